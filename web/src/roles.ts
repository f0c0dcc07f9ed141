// Which pages a role sees. This mirrors the server's route table
// (services/server/src/access.rs); the server enforces it regardless.

import type { Me } from "./api";

/** The UI's pages. */
export type Page = "chat" | "library" | "console";

const ADMITS: Record<Page, string[]> = {
  chat: ["employee", "knowledge_admin", "compliance_officer", "admin"],
  library: ["knowledge_admin", "admin"],
  console: ["compliance_officer"],
};

/** Whether this user may open this page. */
export function allowed(me: Me, page: Page): boolean {
  return me.roles.some((r) => ADMITS[page].includes(r));
}
