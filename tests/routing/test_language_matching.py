"""Agents and customers meet through the one language map (core.languages)."""

from teamline.routing.engine import speaks_any


def test_routing_matches_agents_and_customers_through_the_same_map():
    assert speaks_any(["no", "en"], "nb-NO")  # an agent who wrote `no` serves nb customers
    assert speaks_any(["zh"], "zh-TW") and speaks_any(["zh"], "zh-CN")  # `zh`: both scripts
    assert speaks_any(["zh-hant"], "zh-HK") and not speaks_any(["zh-hant"], "zh-CN")
    assert speaks_any(["pt"], "pt-BR") and speaks_any(["de"], "de-AT")
    assert not speaks_any(["nb", "en"], "et")
