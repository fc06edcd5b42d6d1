from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from mlmw import login

urlpatterns = [
    # Before admin.site.urls, so this login (with failed-sign-in limits, see mlmw.login) is the one.
    path(f"{settings.ADMIN_PATH}/login/", login.login, name="admin-login"),
    path(f"{settings.ADMIN_PATH}/", admin.site.urls),
    # The ESPs' tracking webhooks (bounces, complaints), protected by ANYMAIL_WEBHOOK_SECRET.
    path("anymail/", include("anymail.urls")),
    path("", include("subscriptions.urls")),
    path("", include("access.urls")),
    path("", include("guide.urls")),
]
