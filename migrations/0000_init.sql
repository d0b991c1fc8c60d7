CREATE TABLE `aliases` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`domain` text,
	`address` text NOT NULL,
	`destinations` text NOT NULL,
	`contact` text DEFAULT 'everyone' NOT NULL,
	`local_part_only` integer DEFAULT false NOT NULL,
	`thread_id` text,
	`refusal_text` text,
	`enabled` integer DEFAULT true NOT NULL,
	`add_sender_as_follower` integer DEFAULT false NOT NULL,
	`status` text DEFAULT 'not_tested' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`domain`) REFERENCES `domains`(`name`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`thread_id`) REFERENCES `threads`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `aliases_address` ON `aliases` (`address`);--> statement-breakpoint
CREATE INDEX `aliases_name` ON `aliases` (`name`);--> statement-breakpoint
CREATE TABLE `allowed_senders` (
	`email` text PRIMARY KEY NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `contacts` (
	`email` text PRIMARY KEY NOT NULL,
	`name` text,
	`bounce_count` integer DEFAULT 0 NOT NULL,
	`suppressed` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`message_id` text NOT NULL,
	`alias_id` text,
	`thread_id` text,
	`type` text NOT NULL,
	`target` text,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`message_id`) REFERENCES `messages`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `deliveries_message` ON `deliveries` (`message_id`);--> statement-breakpoint
CREATE TABLE `domains` (
	`name` text PRIMARY KEY NOT NULL,
	`company_name` text,
	`catchall` text DEFAULT 'catchall' NOT NULL,
	`bounce` text DEFAULT 'bounce' NOT NULL,
	`default_from` text DEFAULT 'notifications' NOT NULL,
	`contact_email` text,
	`sequence` integer DEFAULT 10 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `followers` (
	`thread_id` text NOT NULL,
	`email` text NOT NULL,
	`name` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`thread_id`, `email`),
	FOREIGN KEY (`thread_id`) REFERENCES `threads`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `followers_email` ON `followers` (`email`);--> statement-breakpoint
CREATE TABLE `message_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`message_id` text NOT NULL,
	`type` text NOT NULL,
	`detail` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`message_id`) REFERENCES `messages`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `message_events_message` ON `message_events` (`message_id`,`id`);--> statement-breakpoint
CREATE TABLE `message_threads` (
	`message_id` text NOT NULL,
	`thread_id` text NOT NULL,
	`alias_id` text,
	`message_key` text NOT NULL,
	`route_key` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`message_id`, `thread_id`),
	FOREIGN KEY (`message_id`) REFERENCES `messages`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`thread_id`) REFERENCES `threads`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `message_threads_route` ON `message_threads` (`message_key`,`route_key`);--> statement-breakpoint
CREATE INDEX `message_threads_thread` ON `message_threads` (`thread_id`,`message_id`);--> statement-breakpoint
CREATE INDEX `message_threads_alias` ON `message_threads` (`alias_id`,`message_id`);--> statement-breakpoint
CREATE TABLE `messages` (
	`id` text PRIMARY KEY NOT NULL,
	`direction` text NOT NULL,
	`status` text NOT NULL,
	`message_id` text NOT NULL,
	`mail_from` text NOT NULL,
	`rcpt_to` text NOT NULL,
	`from_address` text,
	`from_name` text,
	`to` text NOT NULL,
	`cc` text NOT NULL,
	`subject` text,
	`size` integer NOT NULL,
	`raw_key` text,
	`decision` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `messages_message_id` ON `messages` (`message_id`);--> statement-breakpoint
CREATE INDEX `messages_status` ON `messages` (`status`,`id`);--> statement-breakpoint
CREATE TABLE `settings` (
	`id` integer PRIMARY KEY NOT NULL,
	`loop_minutes` integer DEFAULT 120 NOT NULL,
	`loop_threshold` integer DEFAULT 20 NOT NULL,
	`allowed_domains` text DEFAULT '[]' NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `threads` (
	`id` text PRIMARY KEY NOT NULL,
	`subject` text,
	`alias_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`alias_id`) REFERENCES `aliases`(`id`) ON UPDATE no action ON DELETE set null
);
