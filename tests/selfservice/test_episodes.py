"""Every self-service answer is recorded as an episode, the unit deflection is counted in."""

from __future__ import annotations

import pytest

from teamline.core.errors import InvalidInput
from teamline.core.testing import create_customer, create_team
from teamline.selfservice.actions import do_record_episode
from teamline.selfservice.models import EpisodeKind, SelfServiceEpisode

pytestmark = pytest.mark.django_db


def test_a_balance_answered_by_sms_keyword_is_one_episode_of_the_customer() -> None:
    customer = create_customer(team=create_team())

    episode = do_record_episode(
        EpisodeKind.SMS_KEYWORD, channel="sms", subject="balance", customer=customer
    )

    stored = SelfServiceEpisode.objects.get()
    assert stored == episode
    assert (stored.kind, stored.channel, stored.subject) == ("sms_keyword", "sms", "balance")
    assert stored.customer == customer
    assert stored.helpful is None


def test_an_article_opened_from_the_help_center_needs_no_known_customer() -> None:
    do_record_episode(EpisodeKind.ARTICLE, channel="help", subject="article:7")

    assert SelfServiceEpisode.objects.get().customer is None


@pytest.mark.parametrize(
    ("kind", "channel", "subject"),
    [
        ("guess", "sms", "balance"),
        ("bot", "carrier-pigeon", "balance"),
        ("bot", "sms", ""),
        ("bot", "sms", "x" * 65),
    ],
)
def test_an_episode_nobody_could_count_is_refused(kind: str, channel: str, subject: str) -> None:
    with pytest.raises(InvalidInput):
        do_record_episode(kind, channel=channel, subject=subject)

    assert not SelfServiceEpisode.objects.exists()
