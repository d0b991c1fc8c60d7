CREATE TABLE `purges` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`target` text NOT NULL,
	`requested_at` integer NOT NULL,
	`done_at` integer,
	`deleted` integer DEFAULT 0 NOT NULL
);
