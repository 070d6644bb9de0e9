"""Demo data for `teamline demo` / `teamline seed`: idempotent, built through the real actions.

Two regional teams of a fictional mobile operator, Nordlys Mobile: Oslo (Europe/Oslo) and
Shenzhen (Asia/Shanghai), three agents each, one supervisor over both, one admin, customers with
names in several scripts, a few past conversations, and a web chat inbox for the demo brand page.
Photos are generated here (initials on a colour), never downloaded.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageDraw, ImageFont

from teamline.accounts.actions import do_create_staff_user
from teamline.accounts.models import AgentProfile, Role, User
from teamline.conversations.actions import do_change_status
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Conversation, Inbox, Status
from teamline.conversations.replies import do_add_note, do_send_reply
from teamline.customers.actions import do_create_customer
from teamline.customers.models import Identity, IdentityKind
from teamline.knowledge.actions import do_create_article
from teamline.knowledge.models import Article
from teamline.routing.actions import do_assign_conversation
from teamline.teams.actions import do_add_team_member, do_create_team
from teamline.teams.models import Team

DEMO_PASSWORD = "teamline-demo"  # noqa: S105 - documented demo login, local use only
# A fixed public id so the demo page URL and docs stay stable across re-seeds.
DEMO_INBOX_ID = uuid.UUID("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    team: str


TEAMS = [
    ("Oslo", "oslo", "Europe/Oslo", "Oslo", "#2f6f8f"),
    ("Shenzhen", "shenzhen", "Asia/Shanghai", "Guangdong", "#8f3f2f"),
]
AGENTS = [
    ("kari", "Kari Nordmann", "oslo", ["nb", "en"], "#3a7d44"),
    ("ola", "Ola Hansen", "oslo", ["nb", "en", "se"], "#5b5ea6"),
    ("ingrid", "Ingrid Berg", "oslo", ["nb", "en", "pl"], "#9b2335"),
    ("li.wei", "李伟 Li Wei", "shenzhen", ["zh", "en"], "#dd4124"),
    ("zhang.min", "张敏 Zhang Min", "shenzhen", ["zh", "yue"], "#45b8ac"),
    ("chen.jie", "陈杰 Chen Jie", "shenzhen", ["zh", "en"], "#6b5b95"),
]
SUPERVISOR = ("sigrid", "Sigrid Lund")
ADMIN = ("admin", "Teamline Admin")
CUSTOMERS = [
    (
        "Nora Johansen",
        "nb",
        "oslo",
        "+4791234567",
        "Is there an outage in Grünerløkka? No data since 8.",
    ),
    ("Даниил Петров", "ru", "oslo", "+4798765432", "Hi, my roaming is not working in Sweden"),
    ("王芳", "zh", "shenzhen", "+8613800138000", "我的流量还剩多少？"),
    ("محمد علي", "ar", "oslo", "+4747474747", "Can I move my number to a new SIM card?"),
    ("Αλέξανδρος Παπαδόπουλος", "el", "oslo", "+4740404040", "My invoice is higher than usual"),
]


def avatar(initials: str, colour: str, size: int = 128) -> ContentFile:
    image = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size // 2.6)
    box = draw.textbbox((0, 0), initials, font=font)
    x = (size - (box[2] - box[0])) / 2 - box[0]
    y = (size - (box[3] - box[1])) / 2 - box[1]
    draw.text((x, y), initials, fill="white", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return ContentFile(buffer.getvalue())


def _initials(name: str) -> str:
    latin = [part for part in name.split() if part[:1].isascii()]
    parts = latin or name.split()
    return "".join(p[0] for p in parts[:2]).upper()


def _staff(username: str, name: str, role: str, languages: list[str], colour: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = do_create_staff_user(
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            display_name=name,
            email=f"{username}@nordlys.example",
            languages=languages,
            skills={"billing": 3, "network": 2},
        )
    profile = AgentProfile.objects.get(user=user)
    if not profile.photo:
        profile.photo.save(f"{username}.png", avatar(_initials(name), colour), save=True)
    return user


def seed_demo() -> list[DemoLogin]:
    """Create (or complete) the demo data. Safe to run again: nothing is duplicated."""
    logins: list[DemoLogin] = []
    with transaction.atomic():
        teams: dict[str, Team] = {}
        for name, slug, tz, region, colour in TEAMS:
            team = Team.objects.filter(slug=slug).first() or do_create_team(
                name=name, slug=slug, timezone=tz, region=region
            )
            if not team.photo:
                team.photo.save(f"{slug}.png", avatar(name[:2].upper(), colour), save=True)
            teams[slug] = team
        for username, name, slug, languages, colour in AGENTS:
            user = _staff(username, name, Role.AGENT, languages, colour)
            do_add_team_member(teams[slug], user)
            logins.append(DemoLogin(username, "agent", teams[slug].name))
        supervisor = _staff(SUPERVISOR[0], SUPERVISOR[1], Role.SUPERVISOR, ["nb", "en"], "#333")
        for team in teams.values():
            do_add_team_member(team, supervisor, supervisor=True)
        logins.append(DemoLogin(SUPERVISOR[0], "supervisor", "Oslo + Shenzhen"))
        _staff(ADMIN[0], ADMIN[1], Role.ADMIN, ["en"], "#222")
        logins.append(DemoLogin(ADMIN[0], "admin", "all"))

        inbox = Inbox.objects.filter(public_id=DEMO_INBOX_ID).first()
        if inbox is None:
            inbox = Inbox.objects.create(
                public_id=DEMO_INBOX_ID,
                name="Nordlys Mobile web chat",
                default_team=teams["oslo"],
                greeting="Hi! Your Nordlys team is here to help.",
            )
        china_inbox = Inbox.objects.filter(name="Nordlys Mobile 中国 web chat").first()
        if china_inbox is None:
            Inbox.objects.create(
                name="Nordlys Mobile 中国 web chat",
                default_team=teams["shenzhen"],
                greeting="您好！您的 Nordlys 团队随时为您服务。",
                # The bot answers here first (docs/selfservice.md, "Bots"); the main demo
                # inbox keeps the tour's "a visitor writes, Kari answers".
                config={"bot": True},
            )
    _seed_history(teams, inbox)
    _seed_help_center(User.objects.get(username=ADMIN[0]))
    return logins


def _seed_history(teams: dict[str, Team], inbox: Inbox) -> None:
    """Past, resolved conversations so the desk shows history and the sidebar has content."""
    for name, language, slug, phone, text in CUSTOMERS:
        if Identity.objects.filter(kind=IdentityKind.PHONE, value=phone).exists():
            continue
        customer = do_create_customer(
            name=name,
            preferred_language=language,
            home_team=teams[slug],
            attributes={"plan": "Unlimited 5G", "segment": "consumer"},
            identities=[(IdentityKind.PHONE, phone, True)],
        )
        message, _ = do_receive_customer_message(
            inbox=inbox,
            customer=customer,
            text=text,
            channel="webchat",
            external_id=f"{customer.pk}:demo-1",
        )
        conversation = Conversation.objects.get(pk=message.conversation_id)
        agent = teams[slug].members.order_by("username").first()
        if agent is None:
            continue
        if conversation.assignee_id is None:
            do_assign_conversation(conversation, agent, actor=None, reason="demo history")
        do_send_reply(
            conversation, "Thanks for reaching out — let me check that for you.", actor=agent
        )
        do_add_note(conversation, "Checked the network dashboard; nothing reported.", actor=agent)
        if conversation.status != Status.RESOLVED:
            do_change_status(conversation, Status.RESOLVED, actor=agent)


# The demo help center (/help/): a few answers in English, Norwegian and Chinese, linked as
# translations. Each article: its English text first, then its translations.
HELP_CENTER = [
    [
        ("en", "Using your phone abroad (roaming)",
         "In the EU and EEA you call, text and use mobile data at **home prices**.\n\n"
         "Outside the EU, turn on roaming in the app before you travel and buy a travel "
         "data pack."),
        ("nb", "Bruke telefonen i utlandet (roaming)",
         "I EU og EØS ringer og surfer du til **samme pris som hjemme**.\n\n"
         "Utenfor EU slår du på roaming i appen før du reiser og kjøper en datapakke for reise."),
        ("zh-hans", "在国外使用手机（漫游）",
         "在欧盟和欧洲经济区，通话、短信和移动数据按**国内价格**计费。\n\n"
         "去欧盟以外的地方，请在出发前在应用里开通漫游，并购买旅行流量包。"),
    ],
    [
        ("en", "Check your balance and data left",
         "See your balance and the data left this month in the app, or text **BALANCE** or "
         "**DATA** to 2200. When your data runs out, buy an extra 1 GB or 5 GB pack."),
        ("nb", "Sjekk saldo og hvor mye data du har igjen",
         "Se saldo og data igjen denne måneden i appen, eller send **SALDO** eller **DATA** "
         "til 2200. Når dataen er brukt opp, kan du kjøpe 1 GB eller 5 GB ekstra."),
        ("zh-hans", "查询余额和剩余流量",
         "在应用里查看余额和本月剩余流量，或发送**余额**或**流量**到2200。"
         "流量用完后，可以购买1GB或5GB流量包。"),
    ],
    [
        ("en", "SIM card locked: PIN and PUK code",
         "After three wrong PIN codes the SIM card locks. Enter the PUK code from the card "
         "holder or My page, then choose a new PIN code."),
        ("nb", "SIM-kortet er sperret: PIN- og PUK-kode",
         "Etter tre feil PIN-koder sperres SIM-kortet. Tast PUK-koden fra kortholderen eller "
         "Min side, og velg en ny PIN-kode."),
        ("zh-hans", "SIM卡被锁：PIN码和PUK码",
         "连续输错三次PIN码后SIM卡会被锁定。请输入卡托上或我的页面里的PUK码，然后设置新的PIN码。"),
    ],
]  # fmt: skip


def _seed_help_center(author: User) -> None:
    if Article.objects.exists():
        return
    with transaction.atomic():
        for family in HELP_CENTER:
            source = None
            for language, title, body in family:
                article = do_create_article(
                    actor=author,
                    title=title,
                    body=body,
                    language=language,
                    publish=True,
                    translation_of=source,
                )
                source = source or article
