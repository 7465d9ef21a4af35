from django.urls import path

from campaigns.views import contacts, imports

urlpatterns = [
    path("contacts/", contacts.contacts, name="contacts"),
    path("contacts/new/", contacts.create_contact, name="contact_create"),
    path("contacts/export.csv", contacts.export_all, name="contacts_export"),
    path("contacts/<int:contact_id>/", contacts.contact, name="contact"),
    path("contacts/<int:contact_id>/erase/", contacts.erase_contact, name="contact_erase"),
    path("contacts/<int:contact_id>/lists/", contacts.join_list, name="contact_join_list"),
    path("lists/", contacts.lists, name="lists"),
    path("lists/<int:list_id>/", contacts.contact_list, name="list"),
    path("lists/<int:list_id>/delete/", contacts.delete_list, name="list_delete"),
    path("lists/<int:list_id>/members/", contacts.add_member, name="list_add_member"),
    path("lists/<int:list_id>/members/<int:contact_id>/remove/", contacts.remove_member, name="list_remove_member"),
    path("lists/<int:list_id>/export.csv", contacts.export_list, name="list_export"),
    path("imports/", imports.imports, name="imports"),
    path("imports/<int:import_id>/", imports.contact_import, name="import"),
    path("imports/<int:import_id>/start/", imports.start_import, name="import_start"),
    path("imports/<int:import_id>/progress/", imports.import_progress, name="import_progress"),
    path("imports/<int:import_id>/refused.csv", imports.refused_rows, name="import_refused"),
]
