"""Who lives on the demo domain."""

from dataclasses import dataclass

DOMAIN = "demo.test"


@dataclass(frozen=True)
class Person:
    key: str
    name: str
    admin: bool = False
    marketer: bool = False
    role: str = ""

    @property
    def address(self) -> str:
        return f"{self.key}@{DOMAIN}"

    @property
    def mailbox(self) -> str:
        """``Name <address>``, as written in To and Cc."""
        return f"{self.name} <{self.address}>"


ALICE = Person("alice", "Alice Martin", role="product lead")
BOB = Person("bob", "Bob Kowalski", role="engineer")
CAROL = Person("carol", "Carol Zhang", marketer=True, role="marketing")
ADMIN = Person("admin", "Demo Admin", admin=True, role="operator, for the Django admin")

MAIL_USERS = (ALICE, BOB, CAROL)
EVERYONE = (*MAIL_USERS, ADMIN)
BY_KEY = {person.key: person for person in EVERYONE}
