from __future__ import annotations

from django import forms

from access import uploads
from access.models import ArtifactRevision
from subscriptions.forms import AddressField, HoneypotMixin


class RequestForm(HoneypotMixin, forms.Form):
    email = AddressField(label="Email address")
    name = forms.CharField(label="Name (optional)", max_length=100, required=False)
    reason = forms.CharField(
        label="Why you would like it (optional)",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 500}),
    )
    want_updates = forms.BooleanField(label="Also send me guide updates", required=False)
    want_revisions = forms.BooleanField(
        label="Tell me about new revisions of this artifact", required=False
    )

    field_order = ["email", "name", "reason", "want_updates", "want_revisions", "website"]


class RevisionForm(forms.ModelForm):
    """An upload in the admin: the content decides whether it is accepted (access.uploads)."""

    class Meta:
        model = ArtifactRevision
        fields = ["file", "public", "note"]

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if (
            upload is None
            or not hasattr(upload, "content_type")
            or upload == self.initial.get("file")
        ):
            return upload  # unchanged on an existing revision
        checked = uploads.check(upload)
        instance = self.instance
        instance.content_type = checked.content_type
        instance.extension = checked.extension
        instance.size = checked.size
        instance.sha256 = checked.sha256
        instance.original_name = checked.original_name
        return upload
