CREATE TABLE `runtime_notebooks` (
	`id` text PRIMARY KEY NOT NULL,
	`path` text NOT NULL,
	`runtime` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `runtime_notebooks_path_unique` ON `runtime_notebooks` (`path`);