"""CSV import of contacts: encodings, delimiters, refusals, the report, a task run twice, 100,000 rows."""

import codecs
import io
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Contact, ContactImport, ListMembership
from campaigns.services import imports
from campaigns.services.contacts import create_contact, create_list
from campaigns.services.imports import (
    FileTooLarge,
    NotCsv,
    import_storage,
    inspect_csv,
    open_refused_rows,
    run_contact_import,
    start_contact_import,
    upload_contact_import,
)
from campaigns.tasks import redispatch_queued_imports
from delivery.models import Suppression
from delivery.services import suppress_address
from tests.campaigns import contacts_support as support

alice, workspace = support.alice, support.workspace


def inspect(data: bytes):
    return inspect_csv(io.BytesIO(data))


def contacts(workspace):
    return {c.address: c for c in Contact.objects.filter(domain=workspace)}


# --- encodings and delimiters -------------------------------------------------------------


def test_utf8_with_byte_order_mark_is_read_without_the_mark_in_the_first_header(
    alice, workspace, django_capture_on_commit_callbacks
):
    content = codecs.BOM_UTF8 + "Email,Name\nzoe@example.org,Zoë Ångström\n".encode()
    result = support.run_import(django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content)

    assert result.encoding == "utf-8-sig"
    assert result.mapping["header"] == ["Email", "Name"]
    assert result.status == ContactImport.Status.DONE
    assert contacts(workspace)["zoe@example.org"].name == "Zoë Ångström"


def test_utf16_with_byte_order_mark_is_detected(alice, workspace, django_capture_on_commit_callbacks):
    content = "email\tname\nli@example.org\t李雷\n".encode("utf-16")  # with its BOM
    result = support.run_import(django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content)

    assert (result.encoding, result.mapping["delimiter"]) == ("utf-16", "\t")
    assert contacts(workspace)["li@example.org"].name == "李雷"


def test_cp1252_names_keep_their_accents_and_the_encoding_is_said(alice, workspace, django_capture_on_commit_callbacks):
    content = "email;first name;last name\njose@example.org;José;Müller – €\n".encode("cp1252")
    result = support.run_import(django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content)

    assert (result.encoding, result.mapping["delimiter"]) == ("cp1252", ";")
    assert contacts(workspace)["jose@example.org"].name == "José Müller – €"


def test_a_cp1252_byte_far_down_the_file_decides_the_encoding_of_the_whole_file():
    rows = "".join(f"person{n}@example.org,Name {n}\n" for n in range(5000))
    data = ("email,name\n" + rows + "late@example.org,Renée\n").encode("cp1252")
    assert len(data) > 64 * 1024

    assert inspect(data).encoding == "cp1252"


def test_bytes_undefined_in_cp1252_fall_back_to_latin1():
    assert inspect(b"email,name\nx@example.org,A\x81B\n").encoding == "latin-1"


def test_semicolons_and_quoted_fields_with_line_breaks(alice, workspace, django_capture_on_commit_callbacks):
    content = 'Email;Name;Notes\nann@example.org;"Smith; Ann";"line one\nline two"\nben@example.org;Ben;x\n'
    result = support.run_import(django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content)

    assert result.mapping["delimiter"] == ";"
    assert result.report["counts"]["created"] == 2
    ann = contacts(workspace)["ann@example.org"]
    assert ann.name == "Smith; Ann"
    assert ann.attributes == {"notes": "line one\nline two"}


def test_the_preview_guesses_the_columns_and_types_from_headers_and_values():
    data = b"E-mail,First Name,Last Name,Lang,Orders,VIP,Signed up,City\n" + (
        b"a@example.org,Ann,Lee,en,3,yes,2024-05-01,Paris\nb@example.org,Bo,Li,zh-hans,12,no,2023-01-31,Lyon\n"
    )
    inspection = inspect(data)

    fields = [(c["field"], c["attribute"], c["type"]) for c in inspection.columns]
    assert fields == [
        ("email", "e_mail", "string"),
        ("first_name", "first_name", "string"),
        ("last_name", "last_name", "string"),
        ("locale", "lang", "string"),
        ("attribute", "orders", "number"),
        ("attribute", "vip", "boolean"),
        ("attribute", "signed_up", "date"),
        ("attribute", "city", "string"),
    ]
    assert inspection.total_rows == 2
    assert inspection.sample[0][0] == "a@example.org"


def test_a_file_without_a_header_row_is_read_from_its_first_line():
    inspection = inspect(b"a@example.org,Ann\nb@example.org,Bo\n")

    assert not inspection.has_header
    assert inspection.total_rows == 2
    assert inspection.columns[0]["field"] == "email"


# --- not a CSV file -------------------------------------------------------------------------


def _xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (PNG, "PNG image"),
        (_xlsx(), "Excel workbook"),
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (codecs.BOM_UTF8, "empty"),
        (b"email,name\r\n", "a header row but no contacts"),
        (b"qwerty\nasdf\nzxcv\n", "No column of this file holds email addresses"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"abc\x00\x01\x02def", "binary"),
    ],
    ids=["png", "xlsx", "empty", "blank-lines", "only-a-bom", "only-a-header", "garbage-column", "pdf", "binary"],
)
def test_a_file_that_is_not_a_csv_of_contacts_is_refused_with_a_clear_error(alice, workspace, data, says):
    with pytest.raises(NotCsv, match=says):
        upload_contact_import(workspace=workspace, user=alice, file=support.csv_upload(data, name="photo.csv"))
    assert not ContactImport.objects.exists()


def test_a_file_over_the_size_limit_is_refused(alice, workspace, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 20
    upload = support.csv_upload("email\n" + "a@example.org\n" * 5)
    with pytest.raises(FileTooLarge):
        upload_contact_import(workspace=workspace, user=alice, file=upload)


# --- the report ---------------------------------------------------------------------------------


def test_invalid_duplicate_and_role_rows_are_refused_and_reported_with_a_download_of_all(
    alice, workspace, django_capture_on_commit_callbacks
):
    content = (
        "email,name\n"
        "good@example.org,Good\n"
        "not-an-address,Bad\n"
        "GOOD@Example.org,Again\n"
        "postmaster@example.org,Post\n"
        "no-reply@example.org,Robot\n"
        "info@example.org,Info\n"
        "bad@exa mple.org,Space\n"
    )
    result = support.run_import(django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content)

    counts = result.report["counts"]
    assert (counts["created"], counts["invalid_address"], counts["duplicate"], counts["role_account"]) == (1, 2, 1, 3)
    assert set(contacts(workspace)) == {"good@example.org"}
    assert contacts(workspace)["good@example.org"].name == "Good"  # the first row wins
    assert [(s["row"], s["reason"]) for s in result.report["sample"]] == [
        (3, "invalid_address"),
        (4, "duplicate"),
        (5, "role_account"),
        (6, "role_account"),
        (7, "role_account"),
        (8, "invalid_address"),
    ]
    assert result.report["sample"][0]["value"] == "not-an-address"
    with open_refused_rows(result) as handle:
        rows = support.read_csv_bytes(handle.read())
    assert rows[0] == ["row", "reason", "email", "name"]
    assert [(r[0], r[2]) for r in rows[1:]] == [
        ("3", "not-an-address"),
        ("4", "GOOD@Example.org"),
        ("5", "postmaster@example.org"),
        ("6", "no-reply@example.org"),
        ("7", "info@example.org"),
        ("8", "bad@exa mple.org"),
    ]
    assert not import_storage().exists(result.blob_key)  # the upload is gone once imported


def test_the_sample_keeps_a_hundred_refused_rows_and_the_download_has_them_all(
    alice, workspace, django_capture_on_commit_callbacks
):
    content = "email\n" + "".join(f"broken{n}\n" for n in range(250)) + "ok@example.org\n"
    result = support.run_import(django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content)

    assert result.report["counts"]["invalid_address"] == 250
    assert len(result.report["sample"]) == 100
    with open_refused_rows(result) as handle:
        assert len(support.read_csv_bytes(handle.read())) == 251


def test_bad_typed_values_refuse_the_row(alice, workspace, django_capture_on_commit_callbacks):
    content = 'email,orders,name\na@example.org,3,Ann\nb@example.org,many,Bo\nc@example.org,4,"C\rD"\n'
    result = support.run_import(django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content)

    assert result.mapping["columns"][1]["type"] == "string"  # "many" in the preview: a string column
    columns = [*result.mapping["columns"]]
    columns[1] = {**columns[1], "type": "number"}
    again = support.run_import(
        django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content, columns=columns
    )
    assert again.report["counts"]["invalid_value"] == 2  # "many" is no number; a CR in a name
    assert contacts(workspace)["a@example.org"].attributes == {"orders": 3}


def test_suppressed_addresses_are_saved_but_not_put_on_the_list(alice, workspace, django_capture_on_commit_callbacks):
    suppress_address(address="gone@example.org", reason=Suppression.Reason.HARD_BOUNCE)
    newsletter = create_list(workspace=workspace, name="Newsletter")
    content = "email\ngone@example.org\nhere@example.org\n"
    result = support.run_import(
        django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content,
        contact_list=newsletter, consent_given=True, consent_source="shop checkout box",
    )  # fmt: skip

    counts = result.report["counts"]
    assert (counts["created"], counts["added"], counts["suppressed"]) == (2, 1, 1)
    members = ListMembership.objects.filter(contact_list=newsletter)
    assert [m.contact.address for m in members] == ["here@example.org"]
    assert members.get().status == ListMembership.Status.SUBSCRIBED
    here = contacts(workspace)["here@example.org"]
    assert (here.consent, here.consent_source) == (Contact.Consent.OPTED_IN, "shop checkout box")


def test_without_consent_nobody_joins_a_list_unless_their_row_says_yes(
    alice, workspace, django_capture_on_commit_callbacks
):
    newsletter = create_list(workspace=workspace, name="Newsletter")
    create_contact(workspace=workspace, address="prior@example.org", consent_source="web form")
    content = "email,consent\nyes@example.org,yes\nno@example.org,no\nblank@example.org,\nprior@example.org,no\n"
    result = support.run_import(
        django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content, contact_list=newsletter
    )

    counts = result.report["counts"]
    assert (counts["created"], counts["updated"], counts["added"], counts["missing_consent"]) == (3, 1, 1, 3)
    assert [m.contact.address for m in newsletter.memberships.all()] == ["yes@example.org"]
    assert contacts(workspace)["no@example.org"].consent == Contact.Consent.UNKNOWN
    assert contacts(workspace)["prior@example.org"].consent_source == "web form"  # a file's "no" is no opt-out


def test_existing_contacts_are_updated_and_an_opt_out_is_never_overwritten(
    alice, workspace, django_capture_on_commit_callbacks
):
    create_contact(workspace=workspace, address="old@example.org", name="Old", attributes={"city": "Paris", "n": 1})
    left = create_contact(workspace=workspace, address="left@example.org")
    Contact.objects.filter(pk=left.pk).update(consent=Contact.Consent.OPTED_OUT)
    newsletter = create_list(workspace=workspace, name="Newsletter")
    content = "email,name,n\nold@example.org,Newer,2\nleft@example.org,Left,1\n"
    result = support.run_import(
        django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content,
        contact_list=newsletter, consent_given=True, consent_source="fair",
    )  # fmt: skip

    counts = result.report["counts"]
    assert (counts["created"], counts["updated"], counts["added"], counts["unsubscribed"]) == (0, 2, 1, 1)
    old = contacts(workspace)["old@example.org"]
    assert (old.name, old.attributes) == ("Newer", {"city": "Paris", "n": 2})
    assert contacts(workspace)["left@example.org"].consent == Contact.Consent.OPTED_OUT
    assert [m.contact.address for m in newsletter.memberships.all()] == ["old@example.org"]


def test_a_task_run_twice_imports_once(alice, workspace, django_capture_on_commit_callbacks):
    result = support.run_import(
        django_capture_on_commit_callbacks, workspace=workspace, user=alice, content="email\na@example.org\n"
    )

    assert run_contact_import(import_id=result.pk) is False
    result.refresh_from_db()
    assert result.report["counts"]["created"] == 1
    assert Contact.objects.filter(domain=workspace).count() == 1


def test_an_import_started_while_the_broker_was_down_is_dispatched_again_by_the_beat(alice, workspace):
    upload = upload_contact_import(workspace=workspace, user=alice, file=support.csv_upload("email\na@example.org\n"))
    # Started, but the dispatch never happened (it runs at commit, which this test's transaction never reaches).
    start_contact_import(workspace=workspace, import_id=upload.pk, columns=upload.mapping["columns"])
    assert ContactImport.objects.get(pk=upload.pk).status == ContactImport.Status.QUEUED

    assert redispatch_queued_imports.delay().get() == 1

    upload.refresh_from_db()
    assert (upload.status, upload.report["counts"]["created"]) == (ContactImport.Status.DONE, 1)
    assert redispatch_queued_imports.delay().get() == 0


def test_an_import_whose_worker_died_is_taken_over_once_its_lease_ran_out(alice, workspace):
    upload = upload_contact_import(workspace=workspace, user=alice, file=support.csv_upload("email\na@example.org\n"))
    start_contact_import(workspace=workspace, import_id=upload.pk, columns=upload.mapping["columns"])
    running = ContactImport.objects.filter(pk=upload.pk)
    running.update(status="running", lease_token="dead", lease_expires_at=timezone.now() + timedelta(minutes=1))

    assert run_contact_import(import_id=upload.pk) is False  # the lease still runs: its worker may be alive
    running.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert redispatch_queued_imports.delay().get() == 1

    upload.refresh_from_db()
    assert (upload.status, upload.report["counts"]["created"], upload.lease_expires_at) == ("done", 1, None)


def test_a_run_that_lost_its_lease_to_another_leaves_the_outcome_to_it(alice, workspace, settings, monkeypatch):
    settings.CONTACT_IMPORT_BATCH_SIZE = 1
    content = "email\na@example.org\nb@example.org\n"
    upload = upload_contact_import(workspace=workspace, user=alice, file=support.csv_upload(content))
    start_contact_import(workspace=workspace, import_id=upload.pk, columns=upload.mapping["columns"])
    write_batch = imports._Importer._write_batch

    def taken_over_after_the_first_batch(importer, batch):
        write_batch(importer, batch)
        ContactImport.objects.filter(pk=upload.pk).update(lease_token="another run")

    monkeypatch.setattr(imports._Importer, "_write_batch", taken_over_after_the_first_batch)

    assert run_contact_import(import_id=upload.pk) is False
    upload.refresh_from_db()
    assert (upload.status, upload.report, upload.lease_token) == ("running", {}, "another run")
    assert import_storage().exists(upload.blob_key)  # the other run still reads it


def test_a_hundred_thousand_rows_import(alice, workspace, django_capture_on_commit_callbacks):
    lines = ["email,name,orders,vip"]
    lines += [f"person{n}@example.org,Person {n},{n % 50},{'yes' if n % 2 else 'no'}" for n in range(100_000)]
    lines += ["person7@example.org,Twice,1,no", "postmaster@example.org,Role,1,no", "broken,Bad,1,no"]
    newsletter = create_list(workspace=workspace, name="Everyone")
    result = support.run_import(
        django_capture_on_commit_callbacks, workspace=workspace, user=alice, content="\n".join(lines) + "\n",
        contact_list=newsletter, consent_given=True, consent_source="shop accounts",
    )  # fmt: skip

    counts = result.report["counts"]
    assert result.status == ContactImport.Status.DONE
    assert (result.total_rows, result.processed_rows) == (100_003, 100_003)
    assert (counts["created"], counts["added"]) == (100_000, 100_000)
    assert (counts["duplicate"], counts["role_account"], counts["invalid_address"]) == (1, 1, 1)
    assert Contact.objects.filter(domain=workspace).count() == 100_000
    assert newsletter.memberships.filter(status=ListMembership.Status.SUBSCRIBED).count() == 100_000
    assert Contact.objects.get(domain=workspace, address="person99999@example.org").attributes == {
        "orders": 49,
        "vip": True,
    }
