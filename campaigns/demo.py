"""The demo workspace's sending platform: what ``manage.py seed_demo`` gives Carol, the demo marketer.

A transactional receipt in English and Chinese, a marketing newsletter, and a
small list of people who opted in, all made through the same services as the
marketing area uses.
"""

from campaigns.models import Template
from campaigns.services.contacts import add_to_list, create_contact, create_list
from campaigns.services.templates import create_template
from campaigns.workspace import workspace_of

RECEIPT_VARIABLES = [
    {"name": "orderId", "type": "string", "required": True, "example": "A-1042"},
    {"name": "amount", "type": "number", "required": True, "example": 99},
]
RECEIPT_HTML = """<html><head><style>
body { font-family: sans-serif; color: #1f2937; }
.total { font-weight: bold; color: #1d4ed8; }
</style></head><body>
<p>GREETING</p>
<p>ORDER <b>{{ orderId }}</b></p>
<p class="total">TOTAL: {{ "%.2f"|format(amount) }}</p>
</body></html>"""
NEWSLETTER_VARIABLES = [
    {"name": "name", "type": "string", "default": "there", "example": "Dana"},
    {"name": "articles", "type": "list", "default": [], "example": [{"title": "Spring menu"}, {"title": "New shop"}]},
]
NEWSLETTER_HTML = """<html><head><style>h1 { color: #1d4ed8; } li { margin: .3em 0; }</style></head><body>
<h1>Hello {{ name }},</h1>
<ul>{% for article in articles %}<li>{{ article.title }}</li>{% endfor %}</ul>
</body></html>"""
READERS = [
    ("dana@example.com", "Dana Scully", "en"),
    ("li.wei@example.com", "李伟", "zh-hans"),
    ("sam@example.org", "Sam Tyler", "en"),
]


def seed_marketing(marketer) -> bool:
    """Templates, a list and its readers for the marketer's workspace; False when it already has templates."""
    workspace = workspace_of(marketer)
    if workspace is None or Template.objects.filter(domain=workspace).exists():
        return False
    for locale, words in (
        ("", {"GREETING": "Thank you for your order.", "ORDER": "Order", "TOTAL": "Total"}),
        ("zh-hans", {"GREETING": "感谢您的订购。", "ORDER": "订单", "TOTAL": "合计"}),
    ):
        html = RECEIPT_HTML
        for placeholder, word in words.items():
            html = html.replace(placeholder, word)
        create_template(
            user=marketer, key="order_receipt", locale=locale, name="Order receipt",
            stream=Template.Stream.TRANSACTIONAL,
            subject="订单 {{ orderId }} 的收据" if locale else "Receipt for order {{ orderId }}",
            html=html, variables=RECEIPT_VARIABLES,
        )  # fmt: skip
    create_template(
        user=marketer, key="newsletter", name="Monthly newsletter", stream=Template.Stream.MARKETING,
        subject="News for {{ name }}", html=NEWSLETTER_HTML, variables=NEWSLETTER_VARIABLES,
    )  # fmt: skip
    newsletter = create_list(workspace=workspace, name="Newsletter", description="Monthly news, opted in at checkout.")
    for address, name, locale in READERS:
        contact = create_contact(
            workspace=workspace, address=address, name=name, locale=locale, consent_source="demo: checkout form"
        )
        add_to_list(workspace=workspace, list_id=newsletter.pk, contact_id=contact.pk, added_by=marketer)
    return True
