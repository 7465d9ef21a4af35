from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from campaigns.views.common import marketer_required


@require_GET
@marketer_required
def home(request):
    return redirect("campaigns:templates")
