// Open orders by id. Order ids are issued sequentially, so a paged array (pages of 4,096 slots,
// a page dropped once every order on it is gone) finds an order in O(1) without hashing, and
// its memory follows the live orders rather than every id ever issued. The newest page (where
// new ids land) stays while empty, and one emptied page is kept for the next page to open: when
// orders rest and trade away at once (one price, many users), the newest page would otherwise
// be dropped and made again, 4,096 slots cleared, on nearly every command.

import type { Order } from './model.js';

const PAGE_BITS = 12;
const PAGE_SIZE = 1 << PAGE_BITS;

class Page {
  readonly slots: (Order | undefined)[] = new Array<Order | undefined>(PAGE_SIZE).fill(undefined);
  live = 0;
}

export class OrderIndex {
  private readonly pages = new Map<number, Page>();
  private lastPageNo = -1;
  private lastPage: Page | undefined;
  /** The highest page number opened so far: new order ids land on it, so it stays when empty. */
  private newestPageNo = -1;
  /** An emptied page (every slot undefined, live 0), reused by the next page to open. */
  private spare: Page | undefined;
  size = 0;

  get(id: number): Order | undefined {
    if (!Number.isSafeInteger(id) || id < 0) return undefined;
    return this.page(id >>> 0 === id ? id >>> PAGE_BITS : Math.floor(id / PAGE_SIZE))?.slots[id & (PAGE_SIZE - 1)];
  }

  set(order: Order): void {
    const no = Math.floor(order.id / PAGE_SIZE);
    let page = this.page(no);
    if (page === undefined) {
      if (no > this.newestPageNo) {
        // The previous newest page was kept while empty; it is an old page now.
        const previous = this.pages.get(this.newestPageNo);
        if (previous?.live === 0) this.dropPage(this.newestPageNo, previous);
        this.newestPageNo = no;
      }
      page = this.spare ?? new Page();
      this.spare = undefined;
      this.pages.set(no, page);
      this.lastPageNo = no;
      this.lastPage = page;
    }
    const slot = order.id % PAGE_SIZE;
    if (page.slots[slot] === undefined) {
      page.live += 1;
      this.size += 1;
    }
    page.slots[slot] = order;
  }

  delete(id: number): void {
    const no = Math.floor(id / PAGE_SIZE);
    const page = this.page(no);
    const slot = id % PAGE_SIZE;
    if (page?.slots[slot] === undefined) return;
    page.slots[slot] = undefined;
    page.live -= 1;
    this.size -= 1;
    if (page.live === 0 && no !== this.newestPageNo) this.dropPage(no, page);
  }

  private dropPage(no: number, page: Page): void {
    this.pages.delete(no);
    this.spare = page;
    if (this.lastPageNo === no) { this.lastPageNo = -1; this.lastPage = undefined; }
  }

  private page(no: number): Page | undefined {
    if (no === this.lastPageNo) return this.lastPage;
    const page = this.pages.get(no);
    if (page !== undefined) { this.lastPageNo = no; this.lastPage = page; }
    return page;
  }
}
