"""Who is acting: staff accounts and their roles, access tokens, and the audit log of staff actions."""
