// One labelled value in a definition list (the citation panel, the audit
// event detail); nothing when there is no value.

import type { ComponentChildren } from "preact";

export function Field({ label, value, class: cls }: { label: string; value: ComponentChildren; class?: string }) {
  if (value === null || value === undefined || value === false || value === "") return null;
  return (
    <>
      <dt>{label}</dt>
      <dd class={cls}>{value}</dd>
    </>
  );
}
