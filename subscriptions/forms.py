from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from guide.models import ChangelogEntry, Guide
from guide.sections import guide_sections
from subscriptions import addresses, reading
from subscriptions.models import Cadence, Subscriber
from subscriptions.reading import KINDS, WEEKDAYS, Reading


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


HOURS = [(hour, f"{hour:02}:00") for hour in range(24)]


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(reading.time_zones())]


class PreferencesForm(forms.Form):
    """What a reader receives: guides, cadence and digest slot, kinds of change, sections."""

    guides = forms.ModelMultipleChoiceField(
        queryset=Guide.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked means all guides, and new ones as they appear.",
    )
    cadence = forms.ChoiceField(
        choices=Cadence.choices, initial=Cadence.EVERY, widget=forms.RadioSelect
    )
    digest_weekday = forms.TypedChoiceField(
        label="Weekly digest on",
        choices=WEEKDAYS,
        coerce=int,
        initial=0,
        error_messages={"invalid_choice": "Choose a day from Monday to Sunday."},
    )
    digest_hour = forms.TypedChoiceField(
        label="Digest at",
        choices=HOURS,
        coerce=int,
        initial=reading.DEFAULT_DIGEST_HOUR,
        error_messages={"invalid_choice": "Choose an hour from 00:00 to 23:00."},
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=_time_zone_choices,
        initial=reading.DEFAULT_TIME_ZONE,
        error_messages={"invalid_choice": "Unknown time zone %(value)s: choose one from the list."},
    )
    kinds = forms.MultipleChoiceField(
        label="Kinds of change",
        choices=ChangelogEntry.Kind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=list(KINDS),
        help_text="None ticked means every kind.",
        error_messages={"invalid_choice": "Unknown kind of change %(value)s."},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # One set of section boxes per guide that has sections (a published version).
        self.section_guides: dict[str, Guide] = {}
        for guide in Guide.objects.all():
            sections = guide_sections(guide)
            if not sections:
                continue
            name = f"sections_{guide.slug}"
            self.section_guides[name] = guide
            self.fields[name] = forms.MultipleChoiceField(
                label=guide.title,
                choices=[(section.slug, section.title) for section in sections],
                widget=forms.CheckboxSelectMultiple,
                required=False,
                error_messages={"invalid_choice": f"Unknown section %(value)s of {guide.title}."},
            )

    @property
    def section_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.section_guides]

    @classmethod
    def initial_for(cls, subscriber: Subscriber) -> dict:
        """The form's values for what the subscriber has stored."""
        kinds = subscriber.kind_set
        initial = {
            "guides": [] if subscriber.all_guides else list(subscriber.guides.all()),
            "cadence": subscriber.cadence,
            "digest_weekday": subscriber.digest_weekday,
            "digest_hour": subscriber.digest_hour,
            "time_zone": subscriber.time_zone,
            "kinds": [kind for kind in KINDS if kind in kinds],
        }
        chosen = subscriber.section_choices()
        for guide in Guide.objects.filter(pk__in=list(chosen)):
            initial[f"sections_{guide.slug}"] = sorted(chosen[guide.pk])
        return initial

    def reading(self) -> Reading:
        """The cleaned choices (call after is_valid). Sections are kept for followed guides only."""
        data = self.cleaned_data
        followed = {guide.pk for guide in data.get("guides") or ()}
        sections = {
            guide.pk: tuple(data.get(name) or ())
            for name, guide in self.section_guides.items()
            if data.get(name) and (not followed or guide.pk in followed)
        }
        return Reading(
            cadence=data["cadence"],
            digest_weekday=data["digest_weekday"],
            digest_hour=data["digest_hour"],
            time_zone=data["time_zone"],
            kinds=frozenset(data.get("kinds") or KINDS),
            sections=sections,
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

    field_order = ["email", "guides", "cadence", "digest_weekday", "digest_hour", "time_zone"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The short forms (a guide's page) send only the address: the rest has defaults.
        for name in ("cadence", "digest_weekday", "digest_hour", "time_zone"):
            self.fields[name].required = False
        if "time_zone" not in self.initial:
            # static/js/time-zone.js puts the browser's zone here; without script it stays UTC.
            self.fields["time_zone"].widget.attrs["data-browser-time-zone"] = ""

    def clean_cadence(self) -> str:
        return self.cleaned_data.get("cadence") or Cadence.EVERY

    def clean_digest_weekday(self) -> int:
        value = self.cleaned_data.get("digest_weekday")
        return 0 if value in (None, "") else value

    def clean_digest_hour(self) -> int:
        value = self.cleaned_data.get("digest_hour")
        return reading.DEFAULT_DIGEST_HOUR if value in (None, "") else value

    def clean_time_zone(self) -> str:
        return self.cleaned_data.get("time_zone") or reading.DEFAULT_TIME_ZONE

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
