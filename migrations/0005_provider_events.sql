CREATE TABLE `event_hooks` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`events` text NOT NULL,
	`secrets` text NOT NULL,
	`api_key_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `outbound_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`message_id` text NOT NULL,
	`recipient` text NOT NULL,
	`type` text NOT NULL,
	`status` text,
	`diagnostic` text,
	`source` text NOT NULL,
	`relay_id` text,
	`dedupe_key` text NOT NULL,
	`occurred_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`message_id`) REFERENCES `messages`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `outbound_events_once` ON `outbound_events` (`dedupe_key`);--> statement-breakpoint
CREATE INDEX `outbound_events_message` ON `outbound_events` (`message_id`,`id`);--> statement-breakpoint
CREATE TABLE `provider_ids` (
	`relay_id` text NOT NULL,
	`provider_message_id` text NOT NULL,
	`recipient` text DEFAULT '' NOT NULL,
	`message_id` text NOT NULL,
	PRIMARY KEY(`relay_id`, `provider_message_id`, `recipient`),
	FOREIGN KEY (`message_id`) REFERENCES `messages`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `provider_ids_message` ON `provider_ids` (`message_id`);--> statement-breakpoint
CREATE TABLE `suppressions` (
	`email` text NOT NULL,
	`stream` text DEFAULT '' NOT NULL,
	`reason` text NOT NULL,
	`relay_id` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`email`, `stream`)
);
--> statement-breakpoint
-- Suppressions kept on contacts until now: every stream, the repeated-bounce rule renamed soft_bounces.
INSERT INTO `suppressions` (`email`, `stream`, `reason`, `created_at`) SELECT `email`, '', CASE coalesce(`suppressed_reason`, 'manual') WHEN 'bounces' THEN 'soft_bounces' ELSE coalesce(`suppressed_reason`, 'manual') END, `updated_at` FROM `contacts` WHERE `suppressed` = 1;--> statement-breakpoint
ALTER TABLE `deliveries` ADD `event_id` integer;--> statement-breakpoint
ALTER TABLE `outbound_recipients` ADD `source` text;--> statement-breakpoint
ALTER TABLE `contacts` DROP COLUMN `suppressed`;--> statement-breakpoint
ALTER TABLE `contacts` DROP COLUMN `suppressed_reason`;--> statement-breakpoint
-- Outbound recipients settled before sources were recorded: a bounce came from a DSN, the rest from the SMTP or provider answer.
UPDATE `outbound_recipients` SET `source` = CASE `status` WHEN 'bounced' THEN 'dsn' WHEN 'pending' THEN NULL ELSE 'smtp' END;
