CREATE TABLE `skills_inventory` (
	`root` text NOT NULL,
	`name` text NOT NULL,
	`scope` text NOT NULL,
	`source_id` text NOT NULL,
	`source_json` text NOT NULL,
	`resolved` text NOT NULL,
	`content_digest` text NOT NULL,
	`installed_at` text NOT NULL,
	PRIMARY KEY(`root`, `name`)
);
