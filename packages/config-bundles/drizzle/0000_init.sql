CREATE TABLE `config_bundles` (
	`id` text NOT NULL,
	`revision` integer NOT NULL,
	`digest` text NOT NULL,
	`workspace_id` text NOT NULL,
	`created_at` text NOT NULL,
	`provenance_source` text NOT NULL,
	`provenance_detail` text,
	`profile_count` integer NOT NULL,
	`declaration_count` integer NOT NULL,
	`size_bytes` integer NOT NULL,
	`content` text NOT NULL,
	`stored_at` text NOT NULL,
	PRIMARY KEY(`id`, `revision`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `config_bundles_id_digest` ON `config_bundles` (`id`,`digest`);--> statement-breakpoint
CREATE INDEX `config_bundles_workspace` ON `config_bundles` (`workspace_id`);