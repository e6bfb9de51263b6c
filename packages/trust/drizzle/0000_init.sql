CREATE TABLE `trust_audit` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` text NOT NULL,
	`action` text NOT NULL,
	`effect` text NOT NULL,
	`ecosystem` text NOT NULL,
	`name` text NOT NULL,
	`source` text,
	`actor` text,
	`notebook_path` text,
	CONSTRAINT "trust_audit_action" CHECK("trust_audit"."action" in ('seed', 'approve', 'revoke'))
);
--> statement-breakpoint
CREATE INDEX `trust_audit_package` ON `trust_audit` (`ecosystem`,`name`);--> statement-breakpoint
CREATE TABLE `trust_trusted_packages` (
	`ecosystem` text NOT NULL,
	`name` text NOT NULL,
	`source` text NOT NULL,
	`approved_at` text NOT NULL,
	PRIMARY KEY(`ecosystem`, `name`),
	CONSTRAINT "trust_trusted_packages_ecosystem" CHECK("trust_trusted_packages"."ecosystem" in ('pypi', 'conda')),
	CONSTRAINT "trust_trusted_packages_source" CHECK("trust_trusted_packages"."source" in ('default-seed', 'user-approval', 'create-notebook', 'project-file'))
);
