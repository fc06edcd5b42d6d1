from django.urls import path

from access import views

app_name = "access"

urlpatterns = [
    path("artifacts/<int:pk>/request/", views.request_access, name="request"),
    path(
        "artifacts/<int:pk>/revisions/<int:revision_pk>/download/",
        views.public_download,
        name="public_download",
    ),
    path("access/verify/<str:token>/", views.verify, name="verify"),
    path("access-data/<str:token>/", views.my_data, name="my_data"),
    path("access-data/<str:token>/export.json", views.my_data_export, name="my_data_export"),
    path("access-notices/<str:token>/stop/", views.stop_notices, name="stop_notices"),
    path("access/<str:token>/", views.link_page, name="link"),
    path("access/<str:token>/file/", views.download, name="file"),
]
