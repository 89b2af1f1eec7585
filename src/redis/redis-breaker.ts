/**
 * How long Redis may owe an answer and say nothing before it counts as hung.
 * A healthy Redis answers in well under a millisecond, and PostgreSQL answers
 * the same question in a few; a quarter of a second of silence means the
 * speed layer has stopped being one.
 */
export const REDIS_SILENCE_MS = 250;
/** While the breaker is open, Redis is asked (PING) this often whether it answers again. */
export const REDIS_PROBE_EVERY_MS = 1_000;

/**
 * The circuit breaker in front of Redis, as pure state: the connection tells
 * it what it sent and what came back, and it says when to stop waiting.
 *
 * Redis answers a connection in the order it was asked, so one command left
 * unanswered means every command sent after it waits too. The breaker opens
 * on the first sign of that (N = 1): Redis has owed an answer and said
 * nothing for `silenceMs`, or a command timed out. A second timeout would
 * tell nothing new and only cost another wait. Opening hands back the
 * commands still owed, for the caller to give up at once; only a probe
 * answered closes it again, and since it was sent after them, every command
 * sent before it has by then been done.
 */
export class RedisBreaker<C> {
  private readonly owed = new Set<C>();
  private heardAt = 0;
  private open = false;
  /** How often the breaker has opened. */
  openings = 0;

  constructor(
    private readonly silenceMs = REDIS_SILENCE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get isOpen(): boolean {
    return this.open;
  }

  /** `command` went out. Silence counts from the later of the last answer and the first command still owed. */
  sent(command: C): void {
    if (this.owed.size === 0) this.heardAt = this.now();
    this.owed.add(command);
  }

  /** Redis answered `command`, with a value or an error reply. */
  answered(command: C): void {
    this.owed.delete(command);
    this.heardAt = this.now();
  }

  /** `command` ended without a word from Redis: given up, or lost with the connection. */
  dropped(command: C): void {
    this.owed.delete(command);
  }

  /** Ms until Redis counts as silent if it says nothing more; null when it owes nothing or the breaker is open. */
  silentIn(): number | null {
    if (this.open || this.owed.size === 0) return null;
    return this.heardAt + this.silenceMs - this.now();
  }

  /** Opens if Redis has been silent for `silenceMs`: the commands to give up, or null when it stays closed. */
  check(): C[] | null {
    const left = this.silentIn();
    return left !== null && left <= 0 ? this.trip() : null;
  }

  /** Opens: the commands still owed, for the caller to give up; null when it was open already. */
  trip(): C[] | null {
    if (this.open) return null;
    this.open = true;
    this.openings += 1;
    const owed = [...this.owed];
    this.owed.clear();
    return owed;
  }

  /** The probe was answered (or a new connection is up): Redis is used again. */
  close(): void {
    this.open = false;
  }

  /** The connection was lost, and what it owed with it. */
  forget(): void {
    this.owed.clear();
  }
}
