from django.urls import path

from subscriptions import reader_views, views

app_name = "subscriptions"

urlpatterns = [
    path("subscribe/", views.subscribe, name="subscribe"),
    path("subscribe/sent/", views.subscribe_sent, name="check_inbox"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("subscribed/<str:token>/", views.confirmed, name="confirmed"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("manage/<str:token>/", views.manage, name="manage"),
    path("manage/<str:token>/export.json", views.export, name="export"),
    path("manage/<str:token>/erase/", views.erase, name="erase"),
    path("manage/<str:token>/catch-up/", reader_views.catch_up, name="catch_up"),
    path("manage/<str:token>/mail/<int:version_id>/", reader_views.view_mail, name="view_mail"),
    path("manage/<str:token>/digest/<str:page>/", reader_views.view_digest, name="view_digest"),
    path("erased/", views.erased, name="erased"),
    # Where the personal links of a preview or test mail lead (release_mail.preview_links).
    path("mail-preview/", reader_views.preview_link, name="preview_link"),
    path("mail-preview/<path:rest>", reader_views.preview_link, name="preview_link_under"),
]
