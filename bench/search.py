"""Desk search at scale (issue 14): latency of `GET /api/v1/search` over 1,000,000 messages in
six languages, on SQLite and on PostgreSQL (not a test).

    .venv/bin/python bench/search.py [--messages 1000000 --db sqlite postgresql
        --db-url postgres://postgres@127.0.0.1:5432/postgres --rounds 3 --json out.json]

For each database, in a child process with a fresh scratch database (bench/scratch_db.py: a
SQLite file in a temporary directory, or a PostgreSQL database dropped afterwards):

1. Generates the contact center: 10 teams (an agent each, one admin), `--messages`/20
   customers (names, E.164 phone numbers of the six languages' countries, half with an email
   address, a quarter with an external id), `--messages`/10 conversations and `--messages`
   messages, the six languages in equal shares (en, nb, et, pt, zh-Hans, zh-Hant). A message
   is one to four sentences from a language's contact-center phrases and a Zipf-distributed
   vocabulary (real words first, then a long tail of invented ones; Chinese from real words
   and common characters without spaces), 20-300 characters, 5 % email-length (up to ~1,500).
   Rows are bulk-inserted with SQL: the database triggers note every one for the indexer, as
   they do for the real message path.
2. Runs the real indexer (search.actions.do_index_pending, 5,000 per transaction) until
   nothing is pending, timed (wall and this process's CPU). On PostgreSQL the tables are then
   VACUUM ANALYZEd, as autovacuum does after a bulk load.
3. Sends the query mix `--rounds` times through Django's test client (the whole API stack in
   process: authentication, validation, search, presentation; no network), each query as a
   team agent (who sees a tenth of everything) and some as the admin (who sees all): words
   in each language common and rare, two-word queries, prefixes, Chinese bigrams and single
   characters in both scripts, names, emails, external ids, phone numbers in several formats,
   conversation numbers, for kind=message, conversation and customer, and a few words nobody
   wrote. Reports p50/p95/p99/max wall time per request and per kind, and CPU time per request.
4. On SQLite, times one erasure's purge of the full-text index (search.actions.purge_index).

Reported with the machine (CPU, cores, load average before and after) and the commit.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

TEAMS = 10
LANGUAGES = ["en", "nb", "et", "pt", "zh-Hans", "zh-Hant"]
WORDS: dict[str, list[str]] = {
    "en": [
        "bill",
        "invoice",
        "roaming",
        "data",
        "plan",
        "router",
        "signal",
        "coverage",
        "refund",
        "charge",
        "payment",
        "sim",
        "card",
        "activate",
        "broken",
        "slow",
        "internet",
        "fiber",
        "modem",
        "password",
        "account",
        "cancel",
        "upgrade",
        "contract",
        "outage",
        "network",
        "voicemail",
        "number",
        "transfer",
        "porting",
        "balance",
        "topup",
        "subscription",
        "delivery",
        "package",
        "phone",
        "screen",
        "replace",
        "warranty",
        "appointment",
        "technician",
        "complaint",
        "overcharged",
        "abroad",
        "travel",
        "holiday",
        "bundle",
        "minutes",
        "texts",
        "speed",
        "wifi",
        "hotspot",
    ],
    "nb": [
        "regning",
        "faktura",
        "roaming",
        "mobildata",
        "abonnement",
        "ruter",
        "dekning",
        "refusjon",
        "betaling",
        "simkort",
        "aktivere",
        "treg",
        "internett",
        "fiber",
        "modem",
        "passord",
        "konto",
        "si",
        "opp",
        "oppgradere",
        "avtale",
        "nettverk",
        "brudd",
        "telefonsvarer",
        "nummer",
        "overføring",
        "saldo",
        "påfyll",
        "levering",
        "pakke",
        "skjerm",
        "garanti",
        "tekniker",
        "klage",
        "utlandet",
        "ferie",
        "datapakke",
        "minutter",
        "hastighet",
        "trådløst",
        "bredbånd",
        "tilkobling",
        "mobilnett",
        "strømbrudd",
        "tromsø",
        "bergen",
        "trondheim",
    ],
    "et": [
        "arve",
        "arvel",
        "arvet",
        "rändlus",
        "rändlustasu",
        "andmeside",
        "pakett",
        "ruuter",
        "levi",
        "tagasimakse",
        "makse",
        "simkaart",
        "aktiveerida",
        "aeglane",
        "internet",
        "kiudoptika",
        "modem",
        "parool",
        "konto",
        "lõpetada",
        "leping",
        "võrk",
        "katkestus",
        "kõnepost",
        "number",
        "ülekanne",
        "saldo",
        "tarne",
        "ekraan",
        "garantii",
        "tehnik",
        "kaebus",
        "välismaal",
        "puhkus",
        "minutid",
        "kiirus",
        "tallinn",
        "tartu",
        "pärnu",
    ],
    "pt": [
        "fatura",
        "faturas",
        "roaming",
        "dados",
        "plano",
        "roteador",
        "sinal",
        "cobertura",
        "reembolso",
        "cobrança",
        "pagamento",
        "cartão",
        "chip",
        "ativar",
        "lento",
        "internet",
        "fibra",
        "modem",
        "senha",
        "conta",
        "cancelar",
        "contrato",
        "rede",
        "falha",
        "correio",
        "número",
        "portabilidade",
        "saldo",
        "recarga",
        "entrega",
        "pacote",
        "tela",
        "garantia",
        "técnico",
        "reclamação",
        "exterior",
        "férias",
        "minutos",
        "velocidade",
        "lisboa",
        "porto",
        "são",
        "paulo",
    ],
    "zh-Hans": [
        "账单",
        "发票",
        "漫游",
        "流量",
        "套餐",
        "路由器",
        "信号",
        "覆盖",
        "退款",
        "收费",
        "付款",
        "手机卡",
        "激活",
        "网速",
        "宽带",
        "光纤",
        "密码",
        "账户",
        "取消",
        "升级",
        "合同",
        "网络",
        "故障",
        "语音信箱",
        "号码",
        "携号转网",
        "余额",
        "充值",
        "快递",
        "屏幕",
        "保修",
        "维修",
        "投诉",
        "出国",
        "旅行",
        "分钟",
        "短信",
        "上海",
        "北京",
        "广州",
    ],
    "zh-Hant": [
        "帳單",
        "發票",
        "漫遊",
        "流量",
        "套餐",
        "路由器",
        "訊號",
        "覆蓋",
        "退款",
        "收費",
        "付款",
        "手機卡",
        "啟用",
        "網速",
        "寬頻",
        "光纖",
        "密碼",
        "帳戶",
        "取消",
        "升級",
        "合約",
        "網路",
        "故障",
        "語音信箱",
        "號碼",
        "攜碼",
        "餘額",
        "儲值",
        "快遞",
        "螢幕",
        "保固",
        "維修",
        "投訴",
        "出國",
        "旅行",
        "分鐘",
        "簡訊",
        "台北",
        "高雄",
        "香港",
    ],
}
FILLERS = {
    "en": [
        "i",
        "my",
        "the",
        "a",
        "is",
        "not",
        "and",
        "for",
        "with",
        "it",
        "was",
        "have",
        "has",
        "been",
        "please",
        "can",
        "you",
        "why",
        "when",
    ],
    "nb": [
        "jeg",
        "min",
        "det",
        "er",
        "ikke",
        "og",
        "for",
        "med",
        "har",
        "vært",
        "kan",
        "dere",
        "hvorfor",
        "når",
        "hei",
        "takk",
    ],
    "et": [
        "mina",
        "minu",
        "see",
        "on",
        "ei",
        "ja",
        "jaoks",
        "koos",
        "oli",
        "palun",
        "kas",
        "te",
        "miks",
        "millal",
        "tere",
        "aitäh",
    ],
    "pt": [
        "eu",
        "meu",
        "o",
        "a",
        "é",
        "não",
        "e",
        "para",
        "com",
        "foi",
        "tem",
        "pode",
        "vocês",
        "por",
        "que",
        "quando",
        "olá",
        "obrigado",
    ],
    "zh-Hans": [
        "我",
        "的",
        "了",
        "是",
        "不",
        "在",
        "有",
        "请",
        "为什么",
        "什么时候",
        "你好",
        "谢谢",
        "一直",
        "还是",
        "已经",
    ],
    "zh-Hant": [
        "我",
        "的",
        "了",
        "是",
        "不",
        "在",
        "有",
        "請",
        "為什麼",
        "什麼時候",
        "你好",
        "謝謝",
        "一直",
        "還是",
        "已經",
    ],
}
EN_NAMES = ["Emma", "Olivia", "Ava", "James", "Oliver", "Jack", "Harry", "Sophie", "Grace", "Lucas"]
NAMES = {
    "en": (
        EN_NAMES,
        ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans"],
    ),
    "nb": (
        ["Kari", "Ola", "Ingrid", "Åse", "Bjørn", "Solveig", "Håkon", "Liv", "Øystein", "Sigrid"],
        [
            "Nordmann",
            "Hansen",
            "Johansen",
            "Olsen",
            "Larsen",
            "Andersen",
            "Pedersen",
            "Løvås",
            "Ødegård",
            "Berg",
        ],
    ),
    "et": (
        ["Mari", "Jaan", "Kadri", "Tõnu", "Liis", "Märt", "Triin", "Rein", "Kersti", "Jüri"],
        ["Tamm", "Saar", "Sepp", "Mägi", "Kask", "Kukk", "Rebane", "Ilves", "Pärn", "Kõiv"],
    ),
    "pt": (
        ["João", "Maria", "Ana", "Pedro", "Inês", "Tiago", "Beatriz", "Gonçalo", "Leonor", "Luís"],
        [
            "Silva",
            "Santos",
            "Ferreira",
            "Pereira",
            "Oliveira",
            "Costa",
            "Rodrigues",
            "Gonçalves",
            "Sousa",
            "Lopes",
        ],
    ),
    "zh-Hans": (
        ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军"],
        ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"],
    ),
    "zh-Hant": (
        ["偉", "芳", "娜", "秀英", "敏", "靜", "麗", "強", "磊", "軍"],
        ["王", "李", "張", "劉", "陳", "楊", "黃", "趙", "吳", "周"],
    ),
}
COUNTRY = {"en": "44", "nb": "47", "et": "372", "pt": "351", "zh-Hans": "86", "zh-Hant": "886"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Language:
    """A language's vocabulary with Zipf weights: its real words first, a long tail after."""

    def __init__(self, code: str, rng: random.Random) -> None:
        self.code = code
        self.chinese = code.startswith("zh")
        real = WORDS[code]
        tail: list[str] = []
        if self.chinese:
            chars = _han_chars()
            while len(tail) < 3000:
                tail.append("".join(rng.choice(chars) for _ in range(rng.choice((2, 2, 3)))))
        else:
            letters = "bcdfghklmnprstv"
            vowels = "aeiou" + {"nb": "æøå", "et": "õäöü", "pt": "ãéçõ"}.get(code, "")
            while len(tail) < 3000:
                tail.append(
                    "".join(
                        rng.choice(letters) + rng.choice(vowels) for _ in range(rng.randint(2, 4))
                    )
                )
        self.vocabulary = real + tail
        weights = [1 / (rank + 1) ** 0.9 for rank in range(len(self.vocabulary))]
        self.cumulative = list(itertools.accumulate(weights))
        self.fillers = FILLERS[code]

    def sentence(self, rng: random.Random) -> str:
        n = rng.randint(3, 9)
        words = []
        for _ in range(n):
            if rng.random() < 0.45:
                words.append(rng.choice(self.fillers))
            else:
                words.append(rng.choices(self.vocabulary, cum_weights=self.cumulative)[0])
        if rng.random() < 0.1:
            words.append(str(rng.randint(10, 99999)))
        if self.chinese:
            return "".join(words) + "。"
        return " ".join(words).capitalize() + rng.choice((".", "?", "!", "."))

    def message(self, rng: random.Random) -> str:
        if rng.random() < 0.05:  # an email
            text = " ".join(self.sentence(rng) for _ in range(rng.randint(8, 30)))
            return text[:1500]
        text = " ".join(self.sentence(rng) for _ in range(rng.randint(1, 4)))
        return text[:300] if len(text) >= 20 else text + " " + self.sentence(rng)


def _han_chars() -> str:
    return (
        "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着"
        "去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主"
        "行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二"
        "理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走"
        "电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市"
        "眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提"
        "感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它"
        "许八特觉望直服毛林题建南度统色字交爱让认算论百吃义科怎元社术结六功指思非流每青管"
        "夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完"
        "革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取"
        "设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单坐"
    )


def team_of(customer_index: int) -> int:
    """Customers go to the teams six at a time, so every team has each language's share."""
    return (customer_index // len(LANGUAGES)) % TEAMS


def generate(messages: int, rng: random.Random) -> dict[str, Any]:
    """Teams, staff, customers, conversations and messages, bulk-inserted."""
    from django.db import connection, transaction
    from django.utils import timezone

    from teamline.core.testing import create_inbox, create_team, create_user

    teams = [create_team(f"Team {n}") for n in range(1, TEAMS + 1)]
    inboxes = [create_inbox(team, name=f"Chat {team.pk}") for team in teams]
    agent = create_user("bench-agent", role="agent", team=teams[0])
    admin = create_user("bench-admin", role="admin")
    languages = {code: Language(code, rng) for code in LANGUAGES}
    customers = max(1, messages // 20)
    conversations = max(1, messages // 10)
    now = timezone.now()
    sample: dict[str, Any] = {"phones": [], "emails": [], "external": [], "names": []}

    def insert(sql: str, rows: list[tuple[Any, ...]]) -> None:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM customers_customer")
        first_customer = cursor.fetchone()[0] + 1
    customer_language: list[str] = []
    rows, identity_rows = [], []
    for n in range(customers):
        code = LANGUAGES[n % len(LANGUAGES)]
        first, last = NAMES[code]
        given, family = rng.choice(first), rng.choice(last)
        name = f"{family}{given}" if code.startswith("zh") else f"{given} {family}"
        pk = first_customer + n
        team = teams[team_of(n)]
        rows.append((pk, name, code, "chosen", "", team.pk, "", "", "{}", now, now))
        customer_language.append(code)
        # n × 48271 mod 10^8 is a bijection: unique, scattered numbers.
        phone = f"+{COUNTRY[code]}9{(n * 48271) % 10**8:08d}"
        identity_rows.append((pk, "phone", phone, True, now))
        if n % 2 == 0:
            email = f"{given.lower()}.{n}@example.test"
            identity_rows.append((pk, "email", email, False, now))
            if len(sample["emails"]) < 40 and team_of(n) == 0:
                sample["emails"].append((email, pk, team.pk))
        if n % 4 == 0:
            external = f"CRM-{n:07d}"
            identity_rows.append((pk, "external", external, True, now))
            if len(sample["external"]) < 40 and team_of(n) == 0:
                sample["external"].append((external, pk, team.pk))
        if len(sample["phones"]) < 60 and team_of(n) == 0:
            sample["phones"].append((phone, pk, team.pk))
        if len(sample["names"]) < 60 and team_of(n) == 0 and n % 5 == 0:
            sample["names"].append((name, pk, team.pk))
        if len(rows) >= 10_000 or n == customers - 1:
            with transaction.atomic():
                insert(
                    "INSERT INTO customers_customer (id, name, preferred_language,"
                    " language_source, preferred_channel, home_team_id, region, time_zone,"
                    " attributes, created_at, updated_at)"
                    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    rows,
                )
                insert(
                    "INSERT INTO customers_identity (customer_id, kind, value, verified,"
                    " created_at) VALUES (%s,%s,%s,%s,%s)",
                    identity_rows,
                )
            rows, identity_rows = [], []
    log(f"{customers} customers in {time.monotonic() - started:.0f} s")

    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM conversations_conversation")
        first_conversation = cursor.fetchone()[0] + 1
    conversation_rows = []
    for n in range(conversations):
        customer_index = n % customers
        team = teams[team_of(customer_index)]
        conversation_rows.append(
            (
                first_conversation + n,
                first_customer + customer_index,
                inboxes[team_of(customer_index)].pk,
                team.pk,
                "resolved",
                0,
                "webchat",
                "chat",
                now,
                now,
                now,
                0,
                0,
                "",
            )
        )
    for start in range(0, len(conversation_rows), 10_000):
        with transaction.atomic():
            insert(
                "INSERT INTO conversations_conversation (id, customer_id, inbox_id, team_id,"
                " status, priority, channel, channel_kind, created_at, updated_at,"
                " last_message_at, unread_count, verification_level, verification_method)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                conversation_rows[start : start + 10_000],
            )
    log(f"{conversations} conversations in {time.monotonic() - started:.0f} s")

    message_rows = []
    lengths = []
    for n in range(messages):
        conversation_index = n % conversations
        code = customer_language[conversation_index % customers]
        text = languages[code].message(rng)
        lengths.append(len(text))
        inbound = n % 2 == 0
        message_rows.append(
            (
                first_conversation + conversation_index,
                "in" if inbound else "out",
                "customer" if inbound else "agent",
                "webchat",
                inboxes[team_of(conversation_index % customers)].pk,
                text,
                "{}",
                n % 50 == 49,
                "received",
                "",
                "",
                0,
                False,
                now,
            )
        )
        if len(message_rows) >= 10_000 or n == messages - 1:
            with transaction.atomic():
                insert(
                    "INSERT INTO conversations_message (conversation_id, direction,"
                    " sender_kind, channel, inbox_id, text, content, is_internal,"
                    " delivery_status, delivery_error, provider_message_id,"
                    " delivery_attempts, automated, created_at)"
                    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    message_rows,
                )
            message_rows = []
            if (n + 1) % 100_000 == 0:
                log(f"{n + 1} messages in {time.monotonic() - started:.0f} s")
    return {
        "teams": [t.pk for t in teams],
        "agent": agent,
        "admin": admin,
        "first_conversation": first_conversation,
        "conversations": conversations,
        "customers": customers,
        "sample": sample,
        "message_chars": {
            "mean": round(statistics.mean(lengths)),
            "p50": sorted(lengths)[len(lengths) // 2],
            "p95": sorted(lengths)[int(len(lengths) * 0.95)],
            "max": max(lengths),
        },
        "generate_seconds": round(time.monotonic() - started, 1),
    }


def build_index() -> dict[str, Any]:
    from django.db import connection

    from teamline.search.actions import do_index_pending

    wall, cpu = time.monotonic(), time.process_time()
    handled = 0
    while True:
        done = do_index_pending(5000)
        if not done:
            break
        handled += done
        if handled % 100_000 < 5000:
            log(f"indexed {handled} in {time.monotonic() - wall:.0f} s")
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("search_message", "search_customer"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    return {
        "documents": handled,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "per_second_wall": round(handled / wall),
    }


def query_mix(world: dict[str, Any], rng: random.Random) -> list[tuple[str, str, str]]:
    """(label, q, kind) for the team agent; the same words as the admin are added by run."""
    mix: list[tuple[str, str, str]] = []
    for code in LANGUAGES:
        real = WORDS[code]
        common, rare = real[:4], real[-8:]
        for word in common:
            mix.append((f"{code} common word", word, "message"))
        for word in rare[:4]:
            mix.append((f"{code} rarer word", word, "message"))
        for _ in range(3):
            a, b = rng.sample(real[:20], 2)
            mix.append(
                (f"{code} two words", f"{a} {b}" if not code.startswith("zh") else a + b, "message")
            )
        if code.startswith("zh"):
            mix.append((f"{code} one character", real[0][0], "message"))
            mix.append(
                (
                    f"{code} other script",
                    WORDS["zh-Hant" if code == "zh-Hans" else "zh-Hans"][5],
                    "message",
                )
            )
        else:
            mix.append((f"{code} prefix", real[1][:4], "message"))
        for word in rng.sample(real, 3):
            mix.append((f"{code} conversations", word, "conversation"))
    sample = world["sample"]
    for phone, _pk, _team in sample["phones"][:10]:
        digits = phone[1:]
        local = phone[-8:]
        mix.append(("phone E.164", phone, "customer"))
        mix.append(
            ("phone spaced", f"+{digits[:2]} {digits[2:5]} {digits[5:8]} {digits[8:]}", "customer")
        )
        mix.append(("phone local", f"{local[:4]} {local[4:]}", "customer"))
    for email, _pk, _team in sample["emails"][:8]:
        mix.append(("email", email, "customer"))
    for external, _pk, _team in sample["external"][:6]:
        mix.append(("external id", external, "customer"))
    for name, _pk, _team in sample["names"][:10]:
        mix.append(("name", name, "customer"))
    for n in range(5):
        mix.append(
            ("conversation number", f"#{world['first_conversation'] + n * 97}", "conversation")
        )
    for word in ("xqzvvkt", "roamnigz", "fakturaxyz"):
        mix.append(("nobody wrote it", word, "message"))
    return mix


def run_queries(world: dict[str, Any], rounds: int, rng: random.Random) -> dict[str, Any]:
    from django.test import Client

    from teamline.accounts.actions import do_create_api_token

    clients = {}
    for who in ("agent", "admin"):
        _, secret = do_create_api_token(world[who], name="bench", actor=world[who])
        clients[who] = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    mix = query_mix(world, rng)
    # Warm up like a running server is: URL resolution, the Chinese converter's tables,
    # the first database pages (not timed).
    for client in clients.values():
        for _label, q, kind in mix[:: max(1, len(mix) // 12)]:
            client.get("/api/v1/search", {"q": q, "kind": kind})
    timings: dict[str, list[float]] = defaultdict(list)
    cpu_times: list[float] = []
    hits: dict[str, int] = defaultdict(int)
    for _ in range(rounds):
        for label, q, kind in mix:
            for who in ("agent", "admin") if rng.random() < 0.3 else ("agent",):
                wall, cpu = time.perf_counter(), time.process_time()
                response = clients[who].get("/api/v1/search", {"q": q, "kind": kind})
                elapsed = (time.perf_counter() - wall) * 1000
                cpu_times.append((time.process_time() - cpu) * 1000)
                assert response.status_code == 200, (q, response.content[:200])
                timings["all"].append(elapsed)
                timings[f"kind={kind}"].append(elapsed)
                timings[f"as {who}"].append(elapsed)
                timings[label].append(elapsed)
                hits[label] += bool(response.json()["results"])
    return {
        "queries": len(timings["all"]),
        "distinct": len(mix),
        "latency_ms": {key: summary(values) for key, values in timings.items()},
        "cpu_ms_per_request": summary(cpu_times),
        "share_with_hits": {label: round(n / len(timings[label]), 2) for label, n in hits.items()},
    }


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {
        "n": len(values),
        "p50": pick(0.5),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": round(ordered[-1], 1),
    }


def time_purge(world: dict[str, Any]) -> dict[str, Any]:
    from django.db import connection, transaction

    from teamline.search.actions import do_forget_customer, purge_index

    if connection.vendor != "sqlite":
        return {}
    customer = world["sample"]["names"][0][1]
    with transaction.atomic():
        removed = do_forget_customer([customer])
    wall, cpu = time.monotonic(), time.process_time()
    steps = purge_index()
    return {
        "removed": removed,
        "purge_wall_seconds": round(time.monotonic() - wall, 1),
        "purge_cpu_seconds": round(time.process_time() - cpu, 1),
        **steps,
    }


def one(db: str, args: argparse.Namespace) -> dict[str, Any]:
    from bench.scratch_db import configure, drop, machine

    if args.reuse:
        kept = Path(args.reuse)
        saved = json.loads((kept / "world.json").read_text())
        workdir = str(kept)
        context: Any = contextlib.nullcontext(workdir)
    elif args.keep:
        context = contextlib.nullcontext(tempfile.mkdtemp(prefix=f"teamline-search-{db}-"))
    else:
        context = tempfile.TemporaryDirectory(prefix="teamline-search-bench-")
    with context as workdir:
        reuse = ""
        if args.reuse:
            reuse = saved["database"] or str(Path(workdir) / "teamline.sqlite3")
        name = configure(db, args.db_url, Path(workdir), label="search", reuse=reuse)
        try:
            from django.core.management import call_command

            from teamline.accounts.models import User

            # On a kept database: the code may have moved on since (a new index).
            call_command("migrate", verbosity=0)
            rng = random.Random(args.seed)
            load_before = os.getloadavg()
            if args.reuse:
                world = saved["world"]
                for who in ("agent", "admin"):
                    world[who] = User.objects.get(username=world[who])
                index = saved["index"]
                log(f"{db}: reusing {reuse}")
            else:
                log(f"{db}: generating {args.messages} messages")
                world = generate(args.messages, rng)
                log(f"{db}: indexing")
                index = build_index()
                log(f"{db}: {index}")
                if args.keep:
                    plain = {**world, "agent": "bench-agent", "admin": "bench-admin"}
                    Path(workdir, "world.json").write_text(
                        json.dumps({"database": name, "world": plain, "index": index})
                    )
            rng = random.Random(args.seed + 1)  # the same mix on a kept database
            queries = run_queries(world, args.rounds, rng)
            purge = time_purge(world) if not (args.keep or args.reuse) else {}
            size = Path(workdir, "teamline.sqlite3")
            return {
                "db": db,
                "messages": args.messages,
                "conversations": world["conversations"],
                "customers": world["customers"],
                "message_chars": world["message_chars"],
                "generate_seconds": world["generate_seconds"],
                "index": index,
                "queries": queries,
                "purge": purge,
                "sqlite_file_mb": round(
                    sum(p.stat().st_size for p in Path(workdir).glob("*.sqlite3*")) / 1e6
                )
                if db == "sqlite" and size.parent.exists()
                else None,
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "kept": workdir if args.keep else "",
                **machine(),
            }
        finally:
            if args.keep:
                log(f"{db}: kept in {workdir} (measure again with --reuse {workdir})")
            elif not args.reuse:
                drop(args.db_url, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument(
        "--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (and the world it holds)"
    )
    parser.add_argument(
        "--reuse", default="", help="measure the database a --keep run kept (its directory)"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args)))
        return 0
    results = []
    for db in args.db:
        command = [sys.executable, __file__, "--one", db, *sys.argv[1:]]
        done = subprocess.run(
            command, capture_output=False, stdout=subprocess.PIPE, text=True, check=True
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        latency = result["queries"]["latency_ms"]["all"]
        print(
            f"{db}: {result['messages']} messages; indexed in {result['index']['wall_seconds']} s;"
            f" search p50 {latency['p50']} / p95 {latency['p95']} / p99 {latency['p99']} ms"
            f" over {latency['n']} requests"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
