"""A synthetic spam/ham corpus for bench/spam_eval.py, reproducible from a seed.

Ham: mailing-list posts, personal mail, newsletters and receipts/notifications.
Spam: pharma, advance-fee (419), phishing and crypto schemes. Every message is
put together from phrase alternatives and a shared everyday vocabulary, with
noise: misspellings, filler words, random sender domains, HTML or plain text,
some missing headers. The classes overlap on purpose (newsletters sell,
receipts talk about accounts and payments, phishing copies receipts), but no
generator is a real corpus: the numbers it gives are for reproducing, not for
comparing with published ones.
"""

import base64
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime


def _vocabulary(text: str) -> list[str]:
    return text.split()


EVERYDAY = _vocabulary(
    "time year people way day thing world life hand part child eye place work week case point number group problem "
    "fact today morning evening weekend plan idea question answer reason moment home house family friend team "
    "office project meeting report letter note list update change result level order price account service "
    "information system program company market money business news story water food room city country area "
    "free new good great small large next last early late long short important possible available special "
    "quick simple easy clear sure ready happy busy open close start finish send check read write call help "
    "thanks please really also still just maybe soon again later before after during about around between"
)
FIRST_NAMES = _vocabulary(
    "anna ben carla david emma felix grace henry iris jonas karen leo maria nick olga paul rosa sam tina"
)
LAST_NAMES = _vocabulary("smith meyer rossi dubois novak larsen garcia kowalski brown weber martin silva jensen kim")
TECH = _vocabulary(
    "kernel patch build compiler release branch merge commit regression test suite driver module package "
    "dependency config option flag bug crash trace log memory thread lock socket parser buffer cache index "
    "query schema migration deploy server client protocol header timeout retry benchmark profile"
)
PRODUCTS = _vocabulary(
    "shoes jacket headphones coffee maker backpack lamp books tea set blender watch charger desk chair"
)
SHOPS = _vocabulary(
    "northwind.example shopmart.example bookbarn.example travelnest.example freshcart.example gearhub.example"
)
LISTS = ["dev@lists.pyproj.example", "users@lists.kernel.example", "discuss@lists.gardening.example"]
NEWSLETTERS = ["news@weekly.techdigest.example", "hello@mail.cookclub.example", "offers@email.shopmart.example"]

PHARMA = [
    "Buy {drug} online without prescription",
    "cheap meds shipped discreetly to your door",
    "{drug} {dose}mg only ${price} per pill",
    "our online pharmacy has the lowest prices",
    "satisfy your partner tonight with {drug}",
    "no doctor visit needed, order now",
    "generic {drug} and {drug2} at 80% off",
    "men's health pills: boost your performance",
]
DRUGS = ["viagra", "v1agra", "cialis", "c1alis", "levitra", "valium", "xanax", "tramadol", "phentermine"]
FOUR19 = [
    "I am {name}, a barrister and personal attorney to the late {late}",
    "who died in a car accident leaving a deposit of US${amount} million",
    "you have been selected as the next of kin to receive the inheritance",
    "kindly send me your full name, phone number and bank details",
    "this transaction is 100% risk free and confidential",
    "we shall share the funds 60/40 after the wire transfer",
    "dear friend, I seek your assistance in a business proposal",
    "please treat with urgent response and absolute secrecy",
]
PHISH = [
    "your account has been suspended due to unusual activity",
    "verify your account within 24 hours to avoid permanent closure",
    "we were unable to process your last payment, update your payment details",
    "confirm your password by signing in through the secure link below",
    "a new sign-in to your {brand} account was detected from {country}",
    "your mailbox is full: re-validate your mailbox to keep receiving mail",
    "your package could not be delivered, pay the customs fee of ${price}",
    "unlock your account by confirming your billing information",
]
BRANDS = ["PayPal", "Apple", "Microsoft", "Netflix", "Amazon", "DHL", "Wells Fargo", "Chase"]
CRYPTO = [
    "turn ${small} into ${big} in 30 days with our trading bot",
    "guaranteed income from bitcoin arbitrage, no experience needed",
    "crypto investment opportunity: {coin} is about to explode",
    "join thousands earning passive income with {coin} staking",
    "limited time offer: double your {coin} deposit today",
    "our AI trading platform made members ${big} last month",
    "act now, presale ends tonight, early investors get 300% bonus",
    "withdraw your profits any time, 100% secure wallet",
]
COINS = ["bitcoin", "ethereum", "dogecoin", "solana", "NovaCoin", "MoonToken"]
COUNTRIES = ["Russia", "Nigeria", "Brazil", "Vietnam", "Romania", "China"]
SPAM_TLDS = ["top", "xyz", "click", "ru", "biz", "info", "work"]


class CorpusGenerator:
    """``ham(n)`` and ``spam(n)``: lists of RFC 5322 messages (bytes), the same for the same seed."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.counter = 0
        self.start = datetime(2024, 1, 1, tzinfo=UTC)

    # --- the pieces ------------------------------------------------------------------

    def ham(self, count: int) -> list[bytes]:
        """Lists, personal mail, newsletters, receipts; one in ten talks like spam (grey mail)."""
        kinds = [self._list_post, self._personal, self._newsletter, self._receipt]
        return [self._grey() if self.rng.random() < 0.1 else self.rng.choice(kinds)() for _ in range(count)]

    def spam(self, count: int) -> list[bytes]:
        """Pharma, 419, phishing, crypto; a few (3 %) pass for a short personal note."""
        kinds = [self._pharma, self._four19, self._phishing, self._crypto]
        return [self._casual_spam() if self.rng.random() < 0.03 else self.rng.choice(kinds)() for _ in range(count)]

    def _person(self, domain: str | None = None) -> tuple[str, str]:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        domain = domain or self.rng.choice(["mail.example", "post.example", f"{last}.example", "uni.example"])
        return f"{first.title()} {last.title()}", f"{first}.{last}@{domain}"

    def _words(self, pool, low: int, high: int) -> str:
        return " ".join(self.rng.choice(pool) for _ in range(self.rng.randint(low, high)))

    def _sentence(self, pool=EVERYDAY) -> str:
        text = self._words(pool, 5, 14)
        return text[0].upper() + text[1:] + self.rng.choice([".", ".", ".", "?", "!"])

    def _noisy(self, text: str) -> str:
        """Misspell a word now and then, as people and spammers both do."""
        words = text.split(" ")
        for i, word in enumerate(words):
            if len(word) > 4 and self.rng.random() < 0.04:
                j = self.rng.randrange(1, len(word) - 1)
                words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        return " ".join(words)

    def _fill(self, template: str) -> str:
        return template.format(
            drug=self.rng.choice(DRUGS),
            drug2=self.rng.choice(DRUGS),
            dose=self.rng.choice([10, 20, 50, 100]),
            price=f"{self.rng.uniform(0.5, 99):.2f}",
            name=" ".join(self._person()[0].split()),
            late=f"Mr. {self.rng.choice(LAST_NAMES).title()}",
            amount=self.rng.choice([4.5, 7.2, 10.5, 12, 18.6, 25]),
            brand=self.rng.choice(BRANDS),
            country=self.rng.choice(COUNTRIES),
            small=self.rng.choice([100, 250, 500]),
            big=self.rng.choice(["10,000", "25,000", "48,500", "100,000"]),
            coin=self.rng.choice(COINS),
        )

    def _spam_domain(self) -> str:
        letters = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(self.rng.randint(5, 10)))
        return f"{letters}.{self.rng.choice(SPAM_TLDS)}"

    # --- ham ---------------------------------------------------------------------------

    def _list_post(self) -> bytes:
        name, address = self._person()
        listname = self.rng.choice(LISTS)
        topic = self._words(TECH, 2, 4)
        paragraphs = [
            " ".join(self._sentence(TECH + EVERYDAY) for _ in range(self.rng.randint(2, 5)))
            for _ in range(self.rng.randint(1, 4))
        ]
        if self.rng.random() < 0.5:
            paragraphs.insert(0, "> " + self._sentence(TECH + EVERYDAY))
        body = "\n\n".join(paragraphs) + f"\n\n-- \n{name}\n"
        headers = {
            "List-Id": f"<{listname.replace('@', '.')}>",
            "List-Unsubscribe": f"<mailto:{listname.replace('@', '-leave@')}>",
            "Precedence": "list",
        }
        subject = ("Re: " if self.rng.random() < 0.5 else "") + f"[{listname.split('@')[0]}] {topic}"
        return self._message(name, address, subject, text=body, headers=headers)

    def _personal(self) -> bytes:
        name, address = self._person()
        greeting = self.rng.choice(["Hi", "Hello", "Hey", "Dear", "Morning"])
        lines = [f"{greeting} {self.rng.choice(FIRST_NAMES).title()},", ""]
        lines += [self._noisy(self._sentence()) for _ in range(self.rng.randint(2, 7))]
        if self.rng.random() < 0.3:
            lines.append(f"Here is the link: https://photos.example/album/{self.rng.randint(1000, 9999)}")
        if self.rng.random() < 0.2:  # excitement and money talk happen between friends too
            lines.append(self.rng.choice(["We won the match!!!", "Can you wire me the $40 for the tickets?"]))
        lines += ["", self.rng.choice(["Cheers", "Best", "Love", "Thanks"]) + ",", name.split()[0]]
        subject = self.rng.choice(["Re: ", ""]) + self._words(EVERYDAY, 1, 4).capitalize()
        headers = {"Message-ID": None} if self.rng.random() < 0.05 else {}  # some old mailers send none
        return self._message(name, address, subject, text="\n".join(lines), headers=headers)

    def _newsletter(self) -> bytes:
        sender = self.rng.choice(NEWSLETTERS)
        domain = sender.split("@")[1]
        brand = domain.split(".")[-2].title()
        items = "".join(
            f"<h2>{self._sentence()}</h2><p>{self._sentence()} {self._sentence()}</p>"
            f'<p><a href="https://{domain}/a/{self.rng.randint(1, 10**6)}">Read more</a></p>'
            for _ in range(self.rng.randint(2, 5))
        )
        promo = ""
        if self.rng.random() < 0.4:  # legitimate marketing uses the same words as spam
            promo = f"<p><b>{self.rng.choice(['Limited time offer', 'Order now', 'Click here', '20% off'])}</b>: "
            promo += f"{self.rng.choice(PRODUCTS)} for {self.rng.randint(9, 199)} dollars. {self._sentence()}</p>"
        html = (
            f'<html><body><div style="display:none">{self._sentence()}</div><h1>{brand} weekly</h1>{promo}{items}'
            f'<p><a href="https://{domain}/unsubscribe">Unsubscribe</a> · <a href="https://{domain}/view">'
            "View in browser</a></p></body></html>"
        )
        headers = {
            "List-Unsubscribe": f"<https://{domain}/unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        subject = f"{brand}: {self._words(EVERYDAY, 2, 6)}"
        return self._message(f"{brand} Team", sender, subject, html=html, headers=headers)

    def _receipt(self) -> bytes:
        shop = self.rng.choice(SHOPS)
        brand = shop.split(".")[0].title()
        number = self.rng.randint(10**5, 10**7)
        product = self.rng.choice(PRODUCTS)
        kind = self.rng.choice(["order", "shipping", "payment", "security"])
        text = {
            "order": f"Thank you for your order #{number}. {product.title()}: {self.rng.randint(5, 300)}.00 USD.",
            "shipping": f"Your order #{number} ({product}) has shipped and will arrive on {self._day()}.",
            "payment": f"We received your payment of {self.rng.randint(5, 300)}.00 USD for invoice {number}.",
            "security": f"A new sign-in to your {brand} account on {self._day()}. If it was you, nothing to do.",
        }[kind]
        body = f"Hello {self.rng.choice(FIRST_NAMES).title()},\n\n{text}\n{self._sentence()}\n\n"
        body += f"Your account: https://www.{shop}/account/orders/{number}\n\nThe {brand} team\n"
        subject = {"order": "Your order", "shipping": "Shipped", "payment": "Receipt", "security": "New sign-in"}[kind]
        html = None
        if self.rng.random() < 0.5:
            html = "<html><body>" + "".join(f"<p>{line}</p>" for line in body.split("\n") if line) + "</body></html>"
        encoded = self.rng.random() < 0.15  # some mailers base64 their text, legitimately
        return self._message(
            brand, f"no-reply@{shop}", f"{subject} #{number}", text=body, html=html, base64_text=encoded
        )

    def _grey(self) -> bytes:
        """Legitimate mail in spam's words: a pharmacy's refill reminder, a friend's crypto tip, a bank notice."""
        name, address = self._person()
        kind = self.rng.choice(["pharmacy", "crypto", "bank", "prize"])
        text = {
            "pharmacy": f"Your prescription refill is ready. {self._fill(self.rng.choice(PHARMA[:3]))}. Order now "
            "for pick-up tomorrow at your local pharmacy.",
            "crypto": f"Remember that {self.rng.choice(COINS)} thing I told you about? {self._fill(CRYPTO[2])}, "
            "or so they say. Probably nonsense, but I put $50 in.",
            "bank": f"We noticed a new sign-in to your account from {self.rng.choice(COUNTRIES)}. If it was not you, "
            "please verify your account in the app (we never ask for your password by mail).",
            "prize": "You are a winner! Our office lottery drew your name, claim your prize (a coffee voucher) "
            "at the front desk.",
        }[kind]
        body = f"Hi {self.rng.choice(FIRST_NAMES).title()},\n\n{text}\n{self._sentence()}\n\n{name.split()[0]}\n"
        return self._message(name, address, self._words(EVERYDAY, 1, 3).capitalize(), text=body)

    def _casual_spam(self) -> bytes:
        """Spam dressed as a short note from someone: few spam words, a link."""
        name = self._person()[0]
        domain = self._spam_domain()
        body = f"{self.rng.choice(['Hi', 'Hey', 'Hello'])},\n\n{self._noisy(self._sentence())}\n"
        body += f"{self.rng.choice(['Look at this', 'Thought of you', 'Is this you?', 'Check it'])}: "
        body += f"http://{domain}/{self.rng.randint(1, 9999)}\n\n{name.split()[0]}\n"
        address = f"{name.split()[0].lower()}{self.rng.randint(1, 999)}@{domain}"
        return self._message(name, address, self._words(EVERYDAY, 1, 3).capitalize(), text=body, spam=True)

    def _day(self) -> str:
        return (self.start + timedelta(days=self.rng.randint(0, 700))).strftime("%d %B %Y")

    # --- spam --------------------------------------------------------------------------

    def _spam_body(self, phrases: list[str]) -> str:
        picked = self.rng.sample(phrases, self.rng.randint(2, 5))
        sentences = [self._noisy(self._fill(p)).capitalize() + self.rng.choice([".", "!", "!!", "."]) for p in picked]
        if self.rng.random() < 0.5:  # filler to dilute the clues
            sentences.append(self._words(EVERYDAY, 8, 40))
        return " ".join(sentences)

    def _spam_message(self, phrases, subjects, *, sender_name: str, link_text: str) -> bytes:
        domain = self._spam_domain()
        body = self._spam_body(phrases)
        url = self.rng.choice(
            [f"http://{domain}/{self.rng.randint(1, 999)}", f"http://bit.ly/{self.rng.randint(10**5, 10**6)}",
             f"http://203.0.113.{self.rng.randint(1, 254)}/login", f"https://www.{domain}/go"]
        )  # fmt: skip
        subject = self._noisy(self._fill(self.rng.choice(subjects)))
        if self.rng.random() < 0.2:
            subject = subject.upper()
        address = f"{self.rng.choice(FIRST_NAMES)}{self.rng.randint(1, 99)}@{domain}"
        if self.rng.random() < 0.5:
            html = f'<html><body><p>{body}</p><p><a href="{url}">{link_text}</a></p></body></html>'
            return self._message(sender_name, address, subject, html=html, spam=True)
        return self._message(sender_name, address, subject, text=f"{body}\n\n{link_text}: {url}\n", spam=True)

    def _pharma(self) -> bytes:
        return self._spam_message(
            PHARMA, ["{drug} special offer", "Re: your prescription", "Cheap {drug}", "Feel young again"],
            sender_name=self.rng.choice(["Pharmacy", "Med Store", "Dr. " + self.rng.choice(LAST_NAMES).title()]),
            link_text=self.rng.choice(["Order here", "Visit our store", "Click here"]),
        )  # fmt: skip

    def _four19(self) -> bytes:
        return self._spam_message(
            FOUR19, ["Urgent business proposal", "From the desk of {name}", "Inheritance claim", "Dear friend"],
            sender_name=self._person()[0], link_text="Reply securely",
        )  # fmt: skip

    def _phishing(self) -> bytes:
        brand = self.rng.choice(BRANDS)
        return self._spam_message(
            PHISH, [f"{brand}: action required", "Account suspended", "Verify your account", "Payment problem"],
            sender_name=f"{brand} Security", link_text=self.rng.choice([f"https://www.{brand.lower()}.com/verify",
                                                                        "Sign in", "Confirm now"]),
        )  # fmt: skip

    def _crypto(self) -> bytes:
        return self._spam_message(
            CRYPTO, ["Make money with {coin}", "Your {coin} profit", "Passive income", "Last chance: {coin} presale"],
            sender_name=self.rng.choice(["Crypto Insider", "Wealth Club", self._person()[0]]),
            link_text=self.rng.choice(["Start earning", "Join now", "Click here"]),
        )  # fmt: skip

    # --- the message -------------------------------------------------------------------

    def _message(
        self, name, address, subject, *, text=None, html=None, headers=None, spam=False, base64_text=False
    ) -> bytes:
        self.counter += 1
        headers = dict(headers or {})
        date = self.start + timedelta(minutes=self.rng.randint(0, 700 * 24 * 60))
        domain = address.rpartition("@")[2]
        fields = {
            "From": f"{name} <{address}>",
            "To": f"{self.rng.choice(FIRST_NAMES)}@corp.example",
            "Subject": subject,
            "Date": format_datetime(date),
            "Message-ID": f"<{self.counter}.{self.rng.randint(10**8, 10**9)}@{domain}>",
            "MIME-Version": "1.0",
        }
        if spam:  # spamware leaves out what mail programs add, some of the time
            for field in ("Date", "Message-ID", "To"):
                if self.rng.random() < 0.15:
                    fields[field] = None
            if self.rng.random() < 0.2:
                fields["Reply-To"] = f"claims@{self._spam_domain()}"
        fields.update(headers)
        head = "".join(f"{key}: {value}\r\n" for key, value in fields.items() if value is not None)
        text_part = text.replace("\n", "\r\n") if text else None
        if text_part is not None and base64_text:
            text_part = base64.encodebytes(text_part.encode()).decode().replace("\n", "\r\n")
            text_headers = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
        else:
            text_headers = "Content-Type: text/plain; charset=utf-8\r\n"
        if text_part is not None and html is not None:
            boundary = f"b{self.rng.randint(10**6, 10**7)}"
            body = (
                f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
                f"--{boundary}\r\n{text_headers}\r\n{text_part}\r\n"
                f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{boundary}--\r\n"
            )
        elif html is not None:
            body = f"Content-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        else:
            body = f"{text_headers}\r\n{text_part}\r\n"
        return (head + body).encode("utf-8")
