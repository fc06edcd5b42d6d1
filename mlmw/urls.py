from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path(f"{settings.ADMIN_PATH}/", admin.site.urls),
    # The ESPs' tracking webhooks (bounces, complaints), protected by ANYMAIL_WEBHOOK_SECRET.
    path("anymail/", include("anymail.urls")),
    path("", include("subscriptions.urls")),
    path("", include("access.urls")),
    path("", include("guide.urls")),
]
