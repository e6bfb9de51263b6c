-- The audit log is append-only: rows can be added, never changed or removed.
CREATE TRIGGER `trust_audit_no_update` BEFORE UPDATE ON `trust_audit`
BEGIN
	SELECT RAISE(ABORT, 'trust_audit is append-only');
END;
--> statement-breakpoint
CREATE TRIGGER `trust_audit_no_delete` BEFORE DELETE ON `trust_audit`
BEGIN
	SELECT RAISE(ABORT, 'trust_audit is append-only');
END;
