from django import template

from subscriptions.forms import SubscribeForm

register = template.Library()


@register.inclusion_tag("subscriptions/_form.html", takes_context=True)
def subscribe_form(context, source: str = "home", guide=None) -> dict:
    """The subscribe form for any page; on a guide's page that guide is pre-ticked."""
    initial = {"source": source}
    if guide is not None:
        initial["guides"] = [guide.pk]
    return {"form": SubscribeForm(initial=initial), "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("subscriptions/_compact_form.html", takes_context=True)
def compact_subscribe_form(context, guide, source: str = "home") -> dict:
    """One address field and a button, for that guide: under each release on the home page."""
    return {"guide": guide, "source": source, "csrf_token": context.get("csrf_token")}


@register.simple_tag
def reading_choices(subscriber) -> list:
    """How often, kinds of change and sections, as the welcome words them: the confirmation mail
    and page name them beside the guides, so a link confirms exactly what its reader saw."""
    from subscriptions import welcome

    return [choice for choice in welcome.describe(subscriber) if choice.label != "Guides"]


@register.inclusion_tag("admin/subscriptions/_dashboard.html")
def dashboard_charts() -> dict:
    """The admin index's charts (subscriptions.dashboard), inline SVG."""
    from subscriptions import dashboard

    return {"charts": dashboard.charts()}
