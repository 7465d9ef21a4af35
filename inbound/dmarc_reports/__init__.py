"""DMARC aggregate reports received about our domains: reading them (``reading``), storing them as they
arrive by mail (``services``) and the pass/fail figures the admin shows (``figures``)."""
