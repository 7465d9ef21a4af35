"""Templates for the sending tests: a template variant with one active version."""

import factory

from accounts.models import Domain
from campaigns.models import Template, TemplateVersion

RECEIPT_VARIABLES = [
    {"name": "orderId", "type": "string", "required": True, "example": "A-1"},
    {"name": "amount", "type": "number", "required": True, "example": 9.5},
    {"name": "items", "type": "list", "default": [], "example": [{"name": "Tea", "qty": 1}]},
    {"name": "customer", "type": "object", "default": {"name": "customer"}},
    {"name": "shipped", "type": "date", "required": False},
]
RECEIPT_HTML = """<html><head><style>
p { color: #123456; }
.total { font-weight: bold; }
@media (max-width: 600px) { p { font-size: 18px; } }
</style></head><body>
<p>Hello {{ customer.name }},</p>
<p>Order <b>{{ orderId }}</b>{% if shipped %} shipped on {{ shipped|date("%d %b %Y") }}{% endif %}.</p>
<table>{% for item in items %}<tr><td>{{ item.name }}</td><td>{{ item.qty }}</td></tr>{% endfor %}</table>
<p class="total">Total: {{ "%.2f"|format(amount) }}</p>
</body></html>"""


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Template

    domain = factory.LazyFunction(lambda: Domain.objects.get_or_create(name="example.test")[0])
    key = "order_receipt"
    locale = ""
    stream = Template.Stream.TRANSACTIONAL


def make_template(*, subject="Receipt {{ orderId }}", html=RECEIPT_HTML, text="", variables=None, **kwargs):
    """A template variant whose version 1 (these sources) is active."""
    template = TemplateFactory(**kwargs)
    add_version(template, subject=subject, html=html, text=text, variables=variables)
    return template


def add_version(template, *, subject, html, text="", variables=None, activate=True) -> TemplateVersion:
    number = template.versions.count() + 1
    version = TemplateVersion.objects.create(
        template=template,
        number=number,
        subject=subject,
        html=html,
        text=text,
        variables=RECEIPT_VARIABLES if variables is None else variables,
    )
    if activate:
        template.active_version = version
        template.save(update_fields=["active_version"])
    return version
