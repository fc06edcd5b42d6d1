from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path

from mlmw import login, webhooks


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    # Pages link the static icon; this answers browsers that ask /favicon.ico anyway (the admin's
    # pages, feed readers). Not permanent: the static file's hashed name changes with its content.
    return HttpResponseRedirect(static("favicon.ico"))


# The admin carries the service's name, not Django's.
admin.site.site_header = "MLMW admin"
admin.site.site_title = "MLMW admin"
admin.site.index_title = "Guides, subscribers and deliveries"
admin.site.site_url = "/"
# The index already lists every model: the left sidebar only took 300 px from the change lists.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    # Before admin.site.urls, so this login (with failed-sign-in limits, see mlmw.login) is the one.
    path(f"{settings.ADMIN_PATH}/login/", login.login, name="admin-login"),
    path(f"{settings.ADMIN_PATH}/", admin.site.urls),
    # The ESPs' tracking webhooks (bounces, complaints), protected by ANYMAIL_WEBHOOK_SECRET: only
    # those of the ESPs in ESP_WEBHOOKS (mlmw.webhooks).
    path("anymail/", include((webhooks.urlpatterns(settings.ESP_WEBHOOKS), "anymail"))),
    path("favicon.ico", favicon),
    path("", include("subscriptions.urls")),
    path("", include("access.urls")),
    path("", include("guide.urls")),
]
