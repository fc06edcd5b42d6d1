from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from guide.models import Guide
from subscriptions import addresses
from subscriptions.models import Cadence


class AddressField(forms.CharField):
    """An email address under mlmw's rules (see subscriptions.addresses)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 320)  # longer input gets the clearer 254-character message
        kwargs.setdefault("widget", forms.EmailInput(attrs={"autocomplete": "email"}))
        # Input over 320 characters (refused before any parsing) gets the same message as 255 to 320:
        # the rule is 254, and "at most 320" would contradict it.
        kwargs["error_messages"] = {
            "max_length": f"An email address can have at most {addresses.MAX_LENGTH} characters.",
            **kwargs.get("error_messages", {}),
        }
        super().__init__(**kwargs)

    def clean(self, value: str) -> str:
        value = super().clean(value)
        return addresses.normalize_address(value) if value else value


class PreferencesForm(forms.Form):
    guides = forms.ModelMultipleChoiceField(
        queryset=Guide.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked means all guides.",
    )
    cadence = forms.ChoiceField(
        choices=Cadence.choices, initial=Cadence.EVERY, widget=forms.RadioSelect
    )


class HoneypotMixin(forms.Form):
    """A field people never see and bots fill in; every public form with an address has it."""

    # Its name looks worth filling. Out of the tab order and of autofill: a person's browser must
    # never fill it for them.
    website = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    @property
    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get("website"))


# The pages with a subscribe form besides each guide's page (whose source is the guide's slug).
PAGE_SOURCES = frozenset({"form", "home", "resend", "old-link", "manage"})


class SubscribeForm(HoneypotMixin, PreferencesForm):
    email = AddressField(label="Email address")
    source = forms.SlugField(required=False, max_length=60, widget=forms.HiddenInput)

    field_order = ["email", "guides", "cadence", "website", "source"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cadence"].required = False

    def clean_cadence(self) -> str:
        return self.cleaned_data.get("cadence") or Cadence.EVERY

    def clean_source(self) -> str:
        """Which of our pages the form was on, as the consent record keeps it: only the names our
        pages put in the field; anything else (a visitor's "import", "access-…") is plain "form"."""
        value = self.cleaned_data.get("source") or ""
        if value in PAGE_SOURCES or Guide.objects.filter(slug=value).exists():
            return value
        return "form"


class ResendForm(forms.Form):
    email = AddressField(label="Email address")


def clean_address_or_none(value: str) -> str | None:
    try:
        return addresses.normalize_address(value)
    except ValidationError:
        return None
