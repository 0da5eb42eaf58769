// An event feed that replays everything from the start to late subscribers, then follows live, then
// ends. Used for /v1/loading/progress: the hive may subscribe after loading began (or finished) and must
// still see the whole sequence ending with `ready` and [DONE].

export type FeedListener<T> = (event: T | null) => void; // null = the feed ended

export class ReplayFeed<T> {
  private readonly events: T[] = [];
  private readonly listeners = new Set<FeedListener<T>>();
  private ended = false;

  push(event: T): void {
    if (this.ended) return;
    this.events.push(event);
    for (const l of this.listeners) l(event);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const l of this.listeners) l(null);
    this.listeners.clear();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Replays past events synchronously, then delivers new ones; returns an unsubscribe function. */
  subscribe(listener: FeedListener<T>): () => void {
    for (const e of this.events) listener(e);
    if (this.ended) {
      listener(null);
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
