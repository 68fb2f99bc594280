// What a long-running job (sync, publish) tells its caller: its status once a second, its phase changes,
// and warnings.
export type RunEvent<Status, Phase extends string> =
  | { type: 'status'; status: Status }
  | { type: 'phase'; phase: Phase; detail: string }
  | { type: 'warning'; message: string };
