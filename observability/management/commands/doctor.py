"""manage.py doctor: check the deployment end to end and print what to fix (docs/HEALTH.md)."""

import json

from django.core.management.base import BaseCommand

from observability.doctor import Level, run_doctor


class Command(BaseCommand):
    help = (
        "Checks the deployment: settings, database, migrations, clock, broker, storage, search, queue backlog, "
        "MX and outbound ports, and each hosted domain's DKIM key and DNS. One line per check (OK, WARN, FAIL) "
        "with the remedy; exits 1 when anything FAILs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="One JSON document, for machines.")
        parser.add_argument("--domain", action="append", dest="domains", help="Only this hosted domain (repeatable).")
        parser.add_argument(
            "--offline", action="store_true", help="Do not connect to another server's port 25 (the outbound check)."
        )

    def handle(self, *args, json: bool = False, domains=None, offline=False, **options):
        findings = run_doctor(domains=domains, offline=offline)
        counts = {str(level): sum(1 for f in findings if f.level == level) for level in Level}
        if json:
            self.stdout.write(_dumps({"checks": [f.to_json() for f in findings], "summary": counts}))
        else:
            for finding in findings:
                self.stdout.write(self._line(finding))
                for record in finding.publish:
                    self.stdout.write(f"        {record}")
            self.stdout.write(f"\n{counts['OK']} OK, {counts['WARN']} WARN, {counts['FAIL']} FAIL")
        if counts["FAIL"]:
            raise SystemExit(1)

    def _line(self, finding) -> str:
        style = {Level.OK: self.style.SUCCESS, Level.WARN: self.style.WARNING, Level.FAIL: self.style.ERROR}
        line = f"{style[finding.level](f'{finding.level:<4}')}  {finding.area:<10} {finding.name}: {finding.detail}"
        return f"{line} → {finding.remedy}" if finding.remedy else line


def _dumps(document) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)
