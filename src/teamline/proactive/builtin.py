"""The built-in rules: the data-cap reminder pair, created enabled by a data migration
(proactive/migrations/0003_data_cap_rules.py) and changed like any rule afterwards (except
their messages, which the catalogs in proactive/locale translate into the six languages).

- at 80 %: `data_used_mb >= 0.8 * data_cap_mb` (and below the cap), once per billing period;
- at 100 %: `data_used_mb >= data_cap_mb`, once per billing period;
- both: topic `data_cap` (on unless the customer opted out: STOP DATA, the widget, the desk),
  quiet hours 21:00–08:00 on the customer's clock, WhatsApp templates `data_cap_80` and
  `data_cap_100` outside the 24-hour window (their one parameter each, in order, is the
  placeholders of the English text).

The texts below are the msgids; the migration stores the same strings (a migration does not
import app code), and tests/proactive/test_data_cap.py checks they are the same.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

DATA_CAP_80 = "data_cap_80"
DATA_CAP_100 = "data_cap_100"

MESSAGES = {
    DATA_CAP_80: gettext_noop(
        "You have used {data_used_mb} of your {data_cap_mb} MB of data this period. "
        "Reply STOP DATA to stop these reminders."
    ),
    DATA_CAP_100: gettext_noop(
        "You have used all {data_cap_mb} MB of your data this period. "
        "Reply STOP DATA to stop these reminders."
    ),
}
