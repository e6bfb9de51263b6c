CREATE TABLE `trust_seeded_defaults` (
	`ecosystem` text NOT NULL,
	`name` text NOT NULL,
	`seeded_at` text NOT NULL,
	PRIMARY KEY(`ecosystem`, `name`),
	CONSTRAINT "trust_seeded_defaults_ecosystem" CHECK("trust_seeded_defaults"."ecosystem" in ('pypi', 'conda'))
);
--> statement-breakpoint
-- Databases created before this table: every default seeded so far is in the audit log, so a
-- default the user revoked before upgrading is not re-seeded by the first open after it.
INSERT OR IGNORE INTO `trust_seeded_defaults` (`ecosystem`, `name`, `seeded_at`)
SELECT `ecosystem`, `name`, MIN(`at`) FROM `trust_audit`
WHERE `action` = 'seed' AND `source` = 'default-seed'
GROUP BY `ecosystem`, `name`;
