"""The sentiment word lists, one per language (docs/analytics.md, "Wellbeing").

Deliberately small and hand-written: what a customer says when a conversation goes badly
for the agent (anger, insults, threats to leave, "useless", "worst"), a few words of praise so
that thanks outweigh a complaint, the negators that turn a word around and the intensifiers
that make it stronger. Weights are integers: -3 an insult or a threat, -2 anger, -1 a complaint;
+1 / +2 thanks and praise.

Latin-script languages (en, nb, et, pt) match whole words; an entry ending in "*" matches any
word it starts (Norwegian, Estonian and Portuguese inflect: "elendig*" matches "elendige").
Chinese (zh-hans, zh-hant) has no spaces: entries are character n-grams found by longest match
(sentiment.py), so no segmenter is needed. Multi-character negated forms such as 不满意 are
entries of their own, because the negation rule would otherwise read 满意 and flip it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Lexicon:
    language: str
    words: dict[str, int]
    negators: frozenset[str] = field(default_factory=frozenset)
    intensifiers: frozenset[str] = field(default_factory=frozenset)


EN = Lexicon(
    "en",
    words={
        "angry": -2,
        "furious": -3,
        "annoyed": -1,
        "annoying": -1,
        "frustrated": -2,
        "frustrating": -2,
        "unacceptable": -2,
        "ridiculous": -2,
        "useless": -2,
        "terrible": -2,
        "awful": -2,
        "horrible": -2,
        "worst": -3,
        "disappointed": -1,
        "disappointing": -1,
        "bad": -1,
        "poor": -1,
        "broken": -1,
        "complaint": -1,
        "complain": -1,
        "scam": -3,
        "rip-off": -3,
        "ripoff": -3,
        "incompetent": -3,
        "idiot*": -3,
        "stupid": -2,
        "hate": -2,
        "fed": -1,  # "fed up"
        "cancel": -1,
        "lawyer": -2,
        "joke": -1,
        "waste": -2,
        "wasted": -2,
        "thanks": 1,
        "thank": 1,
        "great": 2,
        "helpful": 2,
        "perfect": 2,
        "excellent": 2,
        "good": 1,
        "happy": 1,
        "solved": 1,
        "appreciate": 2,
    },
    negators=frozenset(
        {"not", "no", "never", "don't", "dont", "isn't", "isnt", "wasn't", "nothing"}
    ),
    intensifiers=frozenset(
        {"very", "so", "really", "extremely", "totally", "completely", "absolutely", "utterly"}
    ),
)

NB = Lexicon(
    "nb",
    words={
        "sint": -2,
        "rasende": -3,
        "irritert": -1,
        "irriterende": -1,
        "frustrert": -2,
        "frustrerende": -2,
        "uakseptabelt": -2,
        "latterlig*": -2,
        "ubrukelig*": -2,
        "elendig*": -2,
        "forferdelig*": -2,
        "grusom*": -2,
        "håpløs*": -2,
        "verst*": -3,
        "skuffet": -1,
        "skuffende": -1,
        "dårlig*": -1,
        "klage": -1,
        "klager": -1,
        "svindel": -3,
        "inkompetent*": -3,
        "idiot*": -3,
        "dum": -2,
        "dumme": -2,
        "hater": -2,
        "lei": -1,  # "lei av"
        "oppsigelse": -1,
        "advokat": -2,
        "tull": -1,
        "bortkastet": -2,
        "takk": 1,
        "flott": 2,
        "supert": 2,
        "super": 2,
        "hjelpsom*": 2,
        "perfekt": 2,
        "bra": 1,
        "god": 1,
        "fornøyd": 1,
        "løst": 1,
    },
    negators=frozenset({"ikke", "ikkje", "aldri", "ingen", "intet", "ingenting"}),
    intensifiers=frozenset(
        {"veldig", "så", "helt", "utrolig", "kjempe", "svært", "ekstremt", "totalt", "skikkelig"}
    ),
)

ET = Lexicon(
    "et",
    words={
        "vihane": -2,
        "vihas": -2,
        "maruvihane": -3,
        "ärritunud": -1,
        "tüütu": -1,
        "pettunud": -1,
        "pettumus": -1,
        "vastuvõetamatu": -2,
        "naeruväärne": -2,
        "kasutu": -2,
        "jube": -2,
        "kohutav": -2,
        "õudne": -2,
        "halvim": -3,
        "halb": -1,
        "halva*": -1,
        "katki": -1,
        "kaebus": -1,
        "pettus": -3,
        "ebakompetentne": -3,
        "idioot*": -3,
        "loll": -2,
        "vihkan": -2,
        "tüdinud": -1,
        "advokaat": -2,
        "jama": -1,
        "raisatud": -2,
        "aitäh": 1,
        "tänan": 1,
        "tänud": 1,
        "suurepärane": 2,
        "abivalmis": 2,
        "täiuslik": 2,
        "super": 2,
        "hea": 1,
        "rahul": 1,
        "lahendatud": 1,
    },
    negators=frozenset({"ei", "pole", "mitte", "ära", "kunagi", "midagi"}),
    intensifiers=frozenset(
        {"väga", "nii", "täiesti", "äärmiselt", "tõeliselt", "kohutavalt", "üliväga"}
    ),
)

PT = Lexicon(
    "pt",
    words={
        "zangado": -2,
        "zangada": -2,
        "furioso": -3,
        "furiosa": -3,
        "irritado": -1,
        "irritada": -1,
        "frustrado": -2,
        "frustrada": -2,
        "frustrante": -2,
        "inaceitável": -2,
        "ridículo": -2,
        "ridícula": -2,
        "inútil": -2,
        "inúteis": -2,
        "péssimo": -3,
        "péssima": -3,
        "horrível": -2,
        "terrível": -2,
        "pior": -3,
        "desiludido": -1,
        "desiludida": -1,
        "decepcionado": -1,
        "decepcionada": -1,
        "mau": -1,
        "má": -1,
        "avariado": -1,
        "reclamação": -1,
        "burla": -3,
        "fraude": -3,
        "incompetente*": -3,
        "idiota*": -3,
        "estúpido": -2,
        "odeio": -2,
        "farto": -1,
        "farta": -1,
        "advogado": -2,
        "vergonha": -2,
        "obrigado": 1,
        "obrigada": 1,
        "ótimo": 2,
        "excelente": 2,
        "prestável": 2,
        "perfeito": 2,
        "bom": 1,
        "boa": 1,
        "satisfeito": 1,
        "satisfeita": 1,
        "resolvido": 1,
    },
    negators=frozenset({"não", "nunca", "nada", "nenhum", "nenhuma", "nem"}),
    intensifiers=frozenset(
        {"muito", "tão", "mesmo", "extremamente", "completamente", "totalmente", "super"}
    ),
)

ZH_HANS = Lexicon(
    "zh-hans",
    words={
        "生气": -2,
        "气死": -3,
        "愤怒": -3,
        "恼火": -2,
        "烦": -1,
        "烦人": -1,
        "失望": -1,
        "太差": -2,
        "差劲": -2,
        "糟糕": -2,
        "垃圾": -3,
        "最差": -3,
        "没用": -2,
        "无用": -2,
        "不满": -2,
        "不满意": -2,
        "不好": -1,
        "投诉": -1,
        "骗子": -3,
        "骗人": -3,
        "坑人": -3,
        "欺骗": -3,
        "无能": -3,
        "白痴": -3,
        "笨蛋": -2,
        "讨厌": -2,
        "受够": -2,
        "退订": -1,
        "律师": -2,
        "离谱": -2,
        "浪费": -2,
        "谢谢": 1,
        "感谢": 1,
        "很好": 1,
        "满意": 1,
        "棒": 2,
        "完美": 2,
        "解决了": 1,
        "帮大忙": 2,
    },
    negators=frozenset({"不", "没", "没有", "别", "从不", "绝不"}),
    intensifiers=frozenset({"很", "太", "非常", "特别", "真", "极", "超", "十分", "实在"}),
)

ZH_HANT = Lexicon(
    "zh-hant",
    words={
        "生氣": -2,
        "氣死": -3,
        "憤怒": -3,
        "惱火": -2,
        "煩": -1,
        "煩人": -1,
        "失望": -1,
        "太差": -2,
        "差勁": -2,
        "糟糕": -2,
        "垃圾": -3,
        "最差": -3,
        "沒用": -2,
        "無用": -2,
        "不滿": -2,
        "不滿意": -2,
        "不好": -1,
        "投訴": -1,
        "騙子": -3,
        "騙人": -3,
        "坑人": -3,
        "欺騙": -3,
        "無能": -3,
        "白癡": -3,
        "笨蛋": -2,
        "討厭": -2,
        "受夠": -2,
        "退訂": -1,
        "律師": -2,
        "離譜": -2,
        "浪費": -2,
        "謝謝": 1,
        "感謝": 1,
        "很好": 1,
        "滿意": 1,
        "棒": 2,
        "完美": 2,
        "解決了": 1,
        "幫大忙": 2,
    },
    negators=frozenset({"不", "沒", "沒有", "別", "從不", "絕不"}),
    intensifiers=frozenset({"很", "太", "非常", "特別", "真", "極", "超", "十分", "實在"}),
)

LATIN: dict[str, Lexicon] = {lex.language: lex for lex in (EN, NB, ET, PT)}
CHINESE: dict[str, Lexicon] = {lex.language: lex for lex in (ZH_HANS, ZH_HANT)}
