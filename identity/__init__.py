"""Who is acting: residents and their channel identities, real names and the PII vault; staff, roles, tokens, audit."""
