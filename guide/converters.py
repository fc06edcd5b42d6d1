from django.core.exceptions import ValidationError

from guide.versioning import VersionNumber


class VersionNumberConverter:
    """A version number in a URL, e.g. /guides/mlmw/0.10.2/."""

    regex = r"[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}"

    def to_python(self, value: str) -> str:
        # The regex lets leading zeros through ("01.0.0"); refusing them here makes such an address
        # a 404 instead of a ValidationError (a server error) in the view.
        try:
            return str(VersionNumber.parse(value))
        except ValidationError:
            raise ValueError(value) from None

    def to_url(self, value: str) -> str:
        return str(value)
