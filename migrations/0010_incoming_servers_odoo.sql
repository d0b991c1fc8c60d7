CREATE TABLE `incoming_fetched` (
	`server_id` text NOT NULL,
	`uid` text NOT NULL,
	`message_id` text NOT NULL,
	`left` integer DEFAULT false NOT NULL,
	`fetched_at` integer NOT NULL,
	PRIMARY KEY(`server_id`, `uid`),
	FOREIGN KEY (`server_id`) REFERENCES `incoming_servers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `incoming_servers` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`protocol` text NOT NULL,
	`host` text NOT NULL,
	`port` integer NOT NULL,
	`security` text NOT NULL,
	`username` text NOT NULL,
	`folder` text DEFAULT 'INBOX' NOT NULL,
	`deliver_to` text NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`secrets` text NOT NULL,
	`uid_validity` integer,
	`lease_until` integer,
	`fetch_requested_at` integer,
	`last_fetch_at` integer,
	`last_counts` text,
	`fetched_total` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`last_error_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `oauth_tokens` (
	`owner` text PRIMARY KEY NOT NULL,
	`sealed` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `deliveries` ADD `record_id` integer;--> statement-breakpoint
ALTER TABLE `messages` ADD `fetched_from` text;