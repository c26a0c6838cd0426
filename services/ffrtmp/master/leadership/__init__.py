"""Several masters on one PostgreSQL database, one of them leader: the election
loop (elector.py), what it calls into the database (backend.py), and what the
master does when it gains or loses the lead (roles.py)."""
