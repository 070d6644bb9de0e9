"""The search-quality set: one small help center about a mobile subscription, the same twelve
topics written in each of the brand's six languages, and natural queries — typos, inflections,
compounds, missing accents, the other Chinese script — each with the topic that answers it.

tests/knowledge/test_search_quality.py and bench/kb_search_quality.py measure recall@3 and MRR
per language against it; the figures are in docs/knowledge-search.md."""

from __future__ import annotations

# topic → (title, body) per language
ARTICLES: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "roaming": (
            "Using your phone abroad (roaming)",
            "In the EU and EEA you call, text and use mobile data at home prices. Outside the "
            "EU, turn on roaming in the app before you travel and buy a travel data pack.",
        ),
        "balance": (
            "Check your balance and prepaid credit",
            "Your balance shows in the app and on My page. You can also text BALANCE to 2200 "
            "or call the menu and press 1. Prepaid credit expires after 12 months.",
        ),
        "data": (
            "How much data do I have left? Buy more data",
            "See data left this month in the app. When your data runs out, buy an extra "
            "data pack of 1 GB or 5 GB; the speed is reduced until you top up.",
        ),
        "bill": (
            "Your bill explained",
            "The invoice shows the monthly fee, usage beyond your plan, and one-off charges "
            "such as premium SMS. Charges are listed per phone number and period.",
        ),
        "esim": (
            "Activate an eSIM",
            "Order an eSIM on My page, then scan the QR code in your phone's settings under "
            "Mobile service. The physical SIM card stops working when the eSIM is active.",
        ),
        "puk": (
            "SIM card locked: PIN and PUK code",
            "After three wrong PIN codes the SIM card locks. Enter the PUK code, found on the "
            "card holder or on My page, and choose a new PIN code.",
        ),
        "port": (
            "Keep your number when you switch operator",
            "Bring your number to us: order a subscription and choose to transfer your current "
            "number. The porting takes two working days; your old contract ends automatically.",
        ),
        "voicemail": (
            "Set up voicemail",
            "Call 2201 to record your greeting and choose a voicemail password. Missed calls "
            "go to voicemail after 20 seconds; you can change the time in the app.",
        ),
        "outage": (
            "No coverage? Check network outages",
            "If you have no signal, check the coverage map and known outages in your area in "
            "the app. Restart your phone; we post updates until the network is fixed.",
        ),
        "payment": (
            "Pay your invoice: direct debit and payment methods",
            "Pay by direct debit (avtalegiro), e-invoice in your online bank, or card in the "
            "app. A reminder fee is added when the invoice is paid after the due date.",
        ),
        "stolen": (
            "Lost or stolen phone: block your SIM",
            "Block the SIM card at once in the app or by calling us, so nobody can use your "
            "subscription. Order a replacement SIM card; your number stays the same.",
        ),
        "apn": (
            "Mobile internet and MMS settings (APN)",
            "If mobile internet or picture messages do not work, check the access point name "
            "(APN) in your phone settings: internet.teamline. Restart after changing it.",
        ),
    },
    "nb": {
        "roaming": (
            "Bruke telefonen i utlandet (roaming)",
            "I EU og EØS ringer, sender du SMS og bruker mobildata til samme pris som hjemme. "
            "Utenfor EU må du slå på roaming i appen før du reiser og kjøpe en datapakke "
            "for reise.",
        ),
        "balance": (
            "Sjekk saldo og kontantkort",
            "Saldoen din vises i appen og på Min side. Du kan også sende SALDO til 2200 eller "
            "ringe menyen og trykke 1. Kontantkortet utløper etter 12 måneder.",
        ),
        "data": (
            "Hvor mye data har jeg igjen? Kjøp mer data",
            "Se hvor mye data du har igjen denne måneden i appen. Når dataen er brukt opp, kan "
            "du kjøpe ekstra datapakke på 1 GB eller 5 GB; hastigheten senkes til du fyller på.",
        ),
        "bill": (
            "Regningen forklart",
            "Fakturaen viser månedsprisen, forbruk utover abonnementet og engangsbeløp som "
            "innholdstjenester. Beløpene står per telefonnummer og periode.",
        ),
        "esim": (
            "Aktivere eSIM",
            "Bestill eSIM på Min side og skann QR-koden i telefonens innstillinger under "
            "Mobiltjeneste. Det fysiske SIM-kortet slutter å virke når eSIM-en er aktiv.",
        ),
        "puk": (
            "SIM-kortet er sperret: PIN- og PUK-kode",
            "Etter tre feil PIN-koder sperres SIM-kortet. Tast PUK-koden, som står på "
            "kortholderen eller på Min side, og velg en ny PIN-kode.",
        ),
        "port": (
            "Behold nummeret når du bytter operatør",
            "Ta med nummeret ditt til oss: bestill abonnement og velg å overføre nummeret du "
            "har. Overføringen tar to virkedager, og den gamle avtalen avsluttes automatisk.",
        ),
        "voicemail": (
            "Sett opp mobilsvar",
            "Ring 2201 for å spille inn hilsenen og velge passord for mobilsvaret. Ubesvarte "
            "anrop går til mobilsvar etter 20 sekunder; tiden kan endres i appen.",
        ),
        "outage": (
            "Ingen dekning? Sjekk driftsmeldinger",
            "Har du ikke signal, sjekk dekningskartet og kjente feil i ditt område i appen. "
            "Start telefonen på nytt; vi oppdaterer driftsmeldingen til nettet er i orden.",
        ),
        "payment": (
            "Betal fakturaen: avtalegiro og betalingsmåter",
            "Betal med avtalegiro, eFaktura i nettbanken eller kort i appen. Det kommer et "
            "purregebyr når fakturaen betales etter forfall.",
        ),
        "stolen": (
            "Mistet eller stjålet telefon: sperr SIM-kortet",
            "Sperr SIM-kortet med en gang i appen eller ved å ringe oss, så ingen kan bruke "
            "abonnementet ditt. Bestill nytt SIM-kort; nummeret ditt er det samme.",
        ),
        "apn": (
            "Innstillinger for mobilt internett og MMS (APN)",
            "Virker ikke mobilt internett eller bildemeldinger, sjekk navnet på "
            "tilgangspunktet (APN) i telefonens innstillinger: internet.teamline. Start på nytt.",
        ),
    },
    "et": {
        "roaming": (
            "Telefoni kasutamine välismaal (rändlus)",
            "ELis ja EMPs helistad, saadad sõnumeid ja kasutad mobiilset andmesidet kodumaa "
            "hinnaga. Väljaspool ELi lülita rändlus äpis enne reisi sisse ja osta reisipakett.",
        ),
        "balance": (
            "Kontrolli saldot ja kõnekaardi jääki",
            "Sinu saldo on näha äpis ja iseteeninduses. Võid saata ka sõnumi SALDO numbrile "
            "2200 või helistada menüüsse ja vajutada 1. Kõnekaardi jääk aegub 12 kuu pärast.",
        ),
        "data": (
            "Kui palju andmemahtu on jäänud? Osta juurde",
            "Vaata äpist, kui palju andmemahtu on sel kuul alles. Kui maht saab otsa, osta "
            "lisapakett 1 GB või 5 GB; kiirus on piiratud, kuni lisad mahtu.",
        ),
        "bill": (
            "Arve selgitus",
            "Arvel on kuutasu, paketiväline kasutus ja ühekordsed tasud, näiteks "
            "lisateenused. Summad on toodud telefoninumbri ja perioodi kaupa.",
        ),
        "esim": (
            "eSIMi aktiveerimine",
            "Telli eSIM iseteeninduses ja skaneeri QR-kood telefoni seadetes mobiilsideteenuse "
            "all. Füüsiline SIM-kaart lakkab töötamast, kui eSIM on aktiivne.",
        ),
        "puk": (
            "SIM-kaart on lukus: PIN- ja PUK-kood",
            "Pärast kolme vale PIN-koodi lukustub SIM-kaart. Sisesta PUK-kood, mis on "
            "kaardihoidjal või iseteeninduses, ja vali uus PIN-kood.",
        ),
        "port": (
            "Numbri säilitamine operaatorit vahetades",
            "Too oma number meile: telli liitumine ja vali praeguse numbri üleviimine. "
            "Numbri üleviimine võtab kaks tööpäeva ja vana leping lõpeb automaatselt.",
        ),
        "voicemail": (
            "Kõneposti seadistamine",
            "Helista 2201, et salvestada tervitus ja valida kõneposti parool. Vastamata kõned "
            "suunatakse kõneposti 20 sekundi pärast; aega saab muuta äpis.",
        ),
        "outage": (
            "Levi puudub? Vaata võrgurikkeid",
            "Kui levi pole, vaata äpist levikaarti ja teadaolevaid rikkeid oma piirkonnas. "
            "Taaskäivita telefon; anname teada, kuni võrk on korras.",
        ),
        "payment": (
            "Arve tasumine: otsekorraldus ja makseviisid",
            "Tasu arve otsekorraldusega, e-arvega internetipangas või kaardiga äpis. Kui arve "
            "tasutakse pärast maksetähtaega, lisandub meeldetuletustasu.",
        ),
        "stolen": (
            "Telefon kadus või varastati: sulge SIM-kaart",
            "Sulge SIM-kaart kohe äpis või helistades meile, et keegi ei saaks sinu liitumist "
            "kasutada. Telli uus SIM-kaart; sinu number jääb samaks.",
        ),
        "apn": (
            "Mobiilse interneti ja MMSi seaded (APN)",
            "Kui mobiilne internet või pildisõnumid ei tööta, kontrolli telefoni seadetes "
            "pääsupunkti nime (APN): internet.teamline. Taaskäivita telefon pärast muutmist.",
        ),
    },
    "pt": {
        "roaming": (
            "Usar o telemóvel no estrangeiro (roaming)",
            "Na UE e no EEE faz chamadas, envia SMS e usa dados móveis ao preço nacional. Fora "
            "da UE, ative o roaming na app antes de viajar e compre um pacote de dados de viagem.",
        ),
        "balance": (
            "Consultar o saldo e o carregamento",
            "O seu saldo aparece na app e na Área de cliente. Também pode enviar SALDO para o "
            "2200 ou ligar para o menu e marcar 1. O saldo pré-pago expira após 12 meses.",
        ),
        "data": (
            "Quantos dados me restam? Comprar mais dados",
            "Veja na app os dados que restam este mês. Quando os dados acabarem, compre um "
            "pacote extra de 1 GB ou 5 GB; a velocidade fica reduzida até carregar.",
        ),
        "bill": (
            "A sua fatura explicada",
            "A fatura mostra a mensalidade, o consumo fora do tarifário e cobranças únicas, "
            "como serviços de valor acrescentado. Os valores aparecem por número e período.",
        ),
        "esim": (
            "Ativar um eSIM",
            "Peça o eSIM na Área de cliente e leia o código QR nas definições do telemóvel, em "
            "Serviço móvel. O cartão SIM físico deixa de funcionar quando o eSIM fica ativo.",
        ),
        "puk": (
            "Cartão SIM bloqueado: código PIN e PUK",
            "Depois de três códigos PIN errados o cartão SIM bloqueia. Introduza o código PUK, "
            "que está no suporte do cartão ou na Área de cliente, e escolha um novo PIN.",
        ),
        "port": (
            "Manter o número ao mudar de operador",
            "Traga o seu número: peça um tarifário e escolha a portabilidade do número atual. "
            "A portabilidade demora dois dias úteis e o contrato antigo termina sozinho.",
        ),
        "voicemail": (
            "Configurar o correio de voz",
            "Ligue para o 2201 para gravar a saudação e escolher a palavra-passe do correio "
            "de voz. As chamadas não atendidas vão para o correio de voz após 20 segundos.",
        ),
        "outage": (
            "Sem rede? Consulte as avarias",
            "Se não tem sinal, consulte na app o mapa de cobertura e as avarias conhecidas na "
            "sua zona. Reinicie o telemóvel; publicamos novidades até a rede estar reparada.",
        ),
        "payment": (
            "Pagar a fatura: débito direto e formas de pagamento",
            "Pague por débito direto, referência Multibanco ou cartão na app. É cobrada uma "
            "taxa de atraso quando a fatura é paga depois da data-limite.",
        ),
        "stolen": (
            "Telemóvel perdido ou roubado: bloquear o cartão SIM",
            "Bloqueie já o cartão SIM na app ou ligando-nos, para que ninguém use o seu "
            "tarifário. Peça um cartão SIM de substituição; o seu número mantém-se.",
        ),
        "apn": (
            "Definições de internet móvel e MMS (APN)",
            "Se a internet móvel ou as mensagens multimédia não funcionam, verifique o nome "
            "do ponto de acesso (APN) nas definições: internet.teamline. Reinicie depois.",
        ),
    },
    "zh-hans": {
        "roaming": (
            "在国外使用手机（漫游）",
            "在欧盟和欧洲经济区，通话、短信和移动数据按国内价格计费。去欧盟以外的地方，"
            "请在出发前在应用里开通漫游，并购买旅行流量包。",
        ),
        "balance": (
            "查询余额和预付费话费",
            "您的余额显示在应用和我的页面上。也可以发送短信余额到2200，或拨打菜单按1。"
            "预付费话费在12个月后过期。",
        ),
        "data": (
            "我还剩多少流量？购买更多流量",
            "在应用里查看本月剩余流量。流量用完后，可以购买1GB或5GB的流量加油包；"
            "在充值之前网速会降低。",
        ),
        "bill": (
            "账单说明",
            "账单列出月费、套餐外使用费和一次性费用，例如增值服务。费用按电话号码和账期列出。",
        ),
        "esim": (
            "激活eSIM",
            "在我的页面申请eSIM，然后在手机设置的移动网络中扫描二维码。eSIM激活后，实体SIM卡将停止工作。",
        ),
        "puk": (
            "SIM卡被锁：PIN码和PUK码",
            "连续输错三次PIN码后SIM卡会被锁定。请输入卡托上或我的页面里的PUK码，然后设置新的PIN码。",
        ),
        "port": (
            "换运营商时保留号码（携号转网）",
            "把您的号码带过来：办理套餐时选择转入现有号码。携号转网需要两个工作日，旧合同会自动结束。",
        ),
        "voicemail": (
            "设置语音信箱",
            "拨打2201录制问候语并设置语音信箱密码。未接来电在20秒后转入语音信箱；可在应用中修改时间。",
        ),
        "outage": (
            "没有信号？查看网络故障",
            "如果手机没有信号，请在应用中查看覆盖地图和您所在地区的已知故障。重启手机；网络修复前我们会持续更新。",
        ),
        "payment": (
            "支付账单：自动扣款和付款方式",
            "可以通过银行自动扣款、网上银行电子账单或在应用中用银行卡付款。逾期付款会收取滞纳金。",
        ),
        "stolen": (
            "手机丢失或被盗：停用SIM卡",
            "请立即在应用中或致电我们停用SIM卡，以免他人使用您的套餐。补办新的SIM卡后号码不变。",
        ),
        "apn": (
            "移动上网和彩信设置（APN）",
            "如果移动上网或彩信无法使用，请在手机设置中检查接入点名称（APN）：internet.teamline。修改后重启手机。",
        ),
    },
    "zh-hant": {
        "roaming": (
            "在國外使用手機（漫遊）",
            "在歐盟和歐洲經濟區，通話、簡訊和行動數據按國內價格計費。前往歐盟以外地區，"
            "請在出發前於應用程式開通漫遊，並購買旅遊數據包。",
        ),
        "balance": (
            "查詢餘額和預付卡金額",
            "您的餘額會顯示在應用程式和我的頁面。也可以傳送簡訊餘額到2200，或撥打選單按1。"
            "預付卡金額在12個月後到期。",
        ),
        "data": (
            "我還剩多少數據用量？購買更多數據",
            "在應用程式查看本月剩餘數據量。數據用完後，可以加購1GB或5GB數據包；"
            "加值之前網速會降低。",
        ),
        "bill": (
            "帳單說明",
            "帳單列出月租費、方案外使用費和一次性費用，例如加值服務。費用依電話號碼和帳期列出。",
        ),
        "esim": (
            "啟用eSIM",
            "在我的頁面申請eSIM，然後在手機設定的行動服務中掃描QR碼。eSIM啟用後，實體SIM卡將停止運作。",
        ),
        "puk": (
            "SIM卡被鎖：PIN碼和PUK碼",
            "連續輸錯三次PIN碼後SIM卡會被鎖住。請輸入卡托上或我的頁面中的PUK碼，然後設定新的PIN碼。",
        ),
        "port": (
            "轉換電信業者時保留門號（攜碼）",
            "把您的門號帶過來：申辦方案時選擇攜入目前的門號。攜碼需要兩個工作天，舊合約會自動終止。",
        ),
        "voicemail": (
            "設定語音信箱",
            "撥打2201錄製問候語並設定語音信箱密碼。未接來電在20秒後轉入語音信箱；可在應用程式中修改時間。",
        ),
        "outage": (
            "沒有訊號？查看網路障礙",
            "如果手機沒有訊號，請在應用程式查看涵蓋地圖和您所在地區的已知障礙。重新開機；網路修復前我們會持續更新。",
        ),
        "payment": (
            "繳納帳單：自動扣繳和付款方式",
            "可以透過銀行自動扣繳、網路銀行電子帳單或在應用程式用信用卡付款。逾期繳費會收取滯納金。",
        ),
        "stolen": (
            "手機遺失或被竊：停用SIM卡",
            "請立即在應用程式或致電我們停用SIM卡，以免他人使用您的方案。補辦新的SIM卡後門號不變。",
        ),
        "apn": (
            "行動上網和多媒體簡訊設定（APN）",
            "如果行動上網或多媒體簡訊無法使用，請在手機設定中檢查存取點名稱（APN）：internet.teamline。修改後重新開機。",
        ),
    },
}

# (query, language searched, topic that answers it). Typos, inflections, compounds, missing
# accents and the other Chinese script on purpose.
QUERIES: list[tuple[str, str, str]] = [
    # English
    ("how do i use my phone when travelling abroad", "en", "roaming"),
    ("roamnig outside eu", "en", "roaming"),
    ("check my balance", "en", "balance"),
    ("how much data is left", "en", "data"),
    ("buy extra data pack", "en", "data"),
    ("what are the charges on my invoice", "en", "bill"),
    ("activate esim qr code", "en", "esim"),
    ("sim is locked need puk", "en", "puk"),
    ("keep my number when switching", "en", "port"),
    ("voicemial password", "en", "voicemail"),
    ("no signal in my area", "en", "outage"),
    ("pay invoice with direct debit", "en", "payment"),
    ("my phone was stolen", "en", "stolen"),
    ("mms not working", "en", "apn"),
    ("internet on my phone stopped working", "en", "apn"),
    ("transfer my number from another provider", "en", "port"),
    ("forgot my pin code", "en", "puk"),
    ("why is my bill so high", "en", "bill"),
    ("speed reduced", "en", "data"),
    # Norwegian: compounds, inflections, no æøå
    ("hvordan bruke mobilen i utlandet", "nb", "roaming"),
    ("sjekke saldoen", "nb", "balance"),
    ("hvor mye data har jeg igjen", "nb", "data"),
    ("kjope mer data", "nb", "data"),
    ("forklaring av regning", "nb", "bill"),
    ("aktivere esim", "nb", "esim"),
    ("sim kort sperret puk", "nb", "puk"),
    ("beholde nummer bytte operator", "nb", "port"),
    ("mobilsvar passord", "nb", "voicemail"),
    ("ingen dekning driftsmelding", "nb", "outage"),
    ("betale faktura avtalegiro", "nb", "payment"),
    ("mistet telefonen", "nb", "stolen"),
    ("bildemelding virker ikke", "nb", "apn"),
    ("nettet er nede", "nb", "outage"),
    ("glemt pinkoden", "nb", "puk"),
    ("flytte nummeret mitt til dere", "nb", "port"),
    ("hvorfor er regningen så høy", "nb", "bill"),
    # Estonian: rich inflection, õäöü dropped
    ("rändlus välismaal", "et", "roaming"),
    ("kuidas kasutada telefoni valismaal", "et", "roaming"),
    ("saldo kontroll", "et", "balance"),
    ("kui palju andmemahtu on alles", "et", "data"),
    ("arve selgitus kuutasu", "et", "bill"),
    ("esimi aktiveerimine", "et", "esim"),
    ("sim kaart lukus puk koodiga", "et", "puk"),
    ("numbri üleviimine", "et", "port"),
    ("kõneposti parool", "et", "voicemail"),
    ("levi ei ole", "et", "outage"),
    ("arve tasumine otsekorraldusega", "et", "payment"),
    ("telefon varastati", "et", "stolen"),
    ("internet ei tööta", "et", "apn"),
    ("unustasin pin koodi", "et", "puk"),
    ("kuidas maksta arvet", "et", "payment"),
    ("kõneposti seadistus", "et", "voicemail"),
    # Portuguese: accents missing, inflections
    ("usar telemovel no estrangeiro", "pt", "roaming"),
    ("consultar saldo", "pt", "balance"),
    ("quantos dados restam", "pt", "data"),
    ("comprar mais dados", "pt", "data"),
    ("explicacao da fatura", "pt", "bill"),
    ("ativar esim", "pt", "esim"),
    ("cartao sim bloqueado puk", "pt", "puk"),
    ("portabilidade do numero", "pt", "port"),
    ("correio de voz palavra passe", "pt", "voicemail"),
    ("sem rede na minha zona", "pt", "outage"),
    ("pagar fatura debito direto", "pt", "payment"),
    ("telemovel roubado", "pt", "stolen"),
    ("a internet nao funciona", "pt", "apn"),
    ("esqueci o pin", "pt", "puk"),
    ("porque a fatura e tao alta", "pt", "bill"),
    ("mudar de operador sem perder o numero", "pt", "port"),
    # Simplified Chinese (and Traditional queries against Simplified articles)
    ("怎么查余额", "zh-hans", "balance"),
    ("国外漫游", "zh-hans", "roaming"),
    ("还剩多少流量", "zh-hans", "data"),
    ("账单上的费用", "zh-hans", "bill"),
    ("激活eSIM", "zh-hans", "esim"),
    ("SIM卡锁了 PUK", "zh-hans", "puk"),
    ("携号转网", "zh-hans", "port"),
    ("语音信箱密码", "zh-hans", "voicemail"),
    ("没有信号", "zh-hans", "outage"),
    ("手机被偷了", "zh-hans", "stolen"),
    ("查詢餘額", "zh-hans", "balance"),
    ("國外漫遊", "zh-hans", "roaming"),
    ("上不了网", "zh-hans", "apn"),
    ("忘记PIN码", "zh-hans", "puk"),
    ("网速很慢", "zh-hans", "data"),
    # Traditional Chinese (and Simplified queries against Traditional articles)
    ("怎麼查餘額", "zh-hant", "balance"),
    ("國外漫遊", "zh-hant", "roaming"),
    ("還剩多少數據", "zh-hant", "data"),
    ("帳單費用", "zh-hant", "bill"),
    ("啟用eSIM", "zh-hant", "esim"),
    ("SIM卡被鎖 PUK", "zh-hant", "puk"),
    ("攜碼", "zh-hant", "port"),
    ("語音信箱密碼", "zh-hant", "voicemail"),
    ("沒有訊號", "zh-hant", "outage"),
    ("手機被竊", "zh-hant", "stolen"),
    ("查询余额", "zh-hant", "balance"),
    ("账单说明", "zh-hant", "bill"),
    ("無法上網", "zh-hant", "apn"),
    ("忘記PIN碼", "zh-hant", "puk"),
    ("網速變慢", "zh-hant", "data"),
]
