from django.db import migrations

MARKETERS_GROUP = "Marketers"  # accounts.roles.MARKETERS_GROUP, frozen here as migrations must be


def create_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=MARKETERS_GROUP)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=MARKETERS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_groups, remove_groups)]
