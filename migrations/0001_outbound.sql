CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`hash` text NOT NULL,
	`prefix` text NOT NULL,
	`from_domains` text,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_hash_unique` ON `api_keys` (`hash`);--> statement-breakpoint
CREATE TABLE `attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`message_id` text NOT NULL,
	`relay_id` text NOT NULL,
	`result` text NOT NULL,
	`envelope_from` text,
	`provider_message_id` text,
	`error` text,
	`recipients` text NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer NOT NULL,
	FOREIGN KEY (`message_id`) REFERENCES `messages`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `attempts_message` ON `attempts` (`message_id`,`id`);--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`scope` text NOT NULL,
	`key` text NOT NULL,
	`request_hash` text NOT NULL,
	`response` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`scope`, `key`)
);
--> statement-breakpoint
CREATE TABLE `outbound_recipients` (
	`message_id` text NOT NULL,
	`address` text NOT NULL,
	`name` text,
	`kind` text NOT NULL,
	`status` text NOT NULL,
	`last_code` text,
	`last_error` text,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`message_id`, `address`),
	FOREIGN KEY (`message_id`) REFERENCES `messages`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `outbound_recipients_address` ON `outbound_recipients` (`address`);--> statement-breakpoint
CREATE TABLE `relay_usage` (
	`relay_id` text NOT NULL,
	`day` text NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`relay_id`, `day`)
);
--> statement-breakpoint
CREATE TABLE `relays` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`from_filter` text,
	`sequence` integer DEFAULT 10 NOT NULL,
	`stream` text DEFAULT 'transactional' NOT NULL,
	`daily_limit` integer,
	`enabled` integer DEFAULT true NOT NULL,
	`config` text NOT NULL,
	`secrets` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `messages` ADD `relay_id` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `api_key_id` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `stream` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `lease_until` integer;--> statement-breakpoint
ALTER TABLE `messages` ADD `next_attempt_at` integer;--> statement-breakpoint
ALTER TABLE `messages` ADD `attempt_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `messages_due` ON `messages` (`direction`,`status`,`next_attempt_at`);