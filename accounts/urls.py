from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("signin/", views.sign_in, name="login"),
    path("signout/", views.sign_out, name="logout"),
]
