/**
 * Every exported function, class and arrow-function const in src/ (.ts and
 * .tsx) says why
 * it exists: a `/** … *\/` block must end on the line directly above it
 * (`//` lines in between, such as biome-ignore, are skipped). Prints
 * `file:line: name` for each one without, and exits 1 when there is any.
 * Plain Node, no dependencies: part of `npm run check`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");

/** Declarations that need a doc comment; the name is the last group. */
const EXPORTED = /^export (?:(?:async )?function\*? ?(\w+)|class (\w+)|const (\w+) = (?:async )?\()/;

function* tsFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(path);
    else if (entry.isFile() && /\.tsx?$/.test(entry.name)) yield path;
  }
}

const misses = [];
for (const path of [...tsFiles(join(root, "src"))].sort()) {
  const lines = readFileSync(path, "utf8").split("\n");
  lines.forEach((line, i) => {
    const match = EXPORTED.exec(line);
    if (!match) return;
    let above = i - 1;
    while (above >= 0 && lines[above].trim().startsWith("//")) above--;
    if (above < 0 || !lines[above].trim().endsWith("*/")) {
      misses.push(`${relative(root, path)}:${i + 1}: ${match[1] ?? match[2] ?? match[3]}`);
    }
  });
}

for (const miss of misses) console.log(miss);
if (misses.length) {
  console.error(`check-docs: ${misses.length} exported declaration(s) in src/ without a doc comment directly above`);
  process.exit(1);
}
