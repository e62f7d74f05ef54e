// Offers: conversations offered to me, on top of the list, with a live countdown.

import { html, useEffect } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { countdown } from '../lib/format.js';
import { acceptOffer, expireOffer, rejectOffer } from '../lib/actions.js';
import { customerName, teamName, useNow } from './common.js';

/** How long an offer stays shown past its expiry, waiting for the server's word. */
const GRACE_MS = 3000;

export function Offers({ s }) {
  const offers = Object.values(s.offers).sort((a, b) => (a.expires_at || Infinity) - (b.expires_at || Infinity));
  const now = useNow(offers.length > 0);
  useEffect(() => {
    for (const o of offers) if (o.expires_at && o.expires_at + GRACE_MS < now) expireOffer(o.conversation.id);
  });
  if (!offers.length) return null;
  return html`
    <section class="offers" aria-label=${t('offer.title')}>
      ${offers.map((o) => {
        const c = o.conversation;
        const left = o.expires_at ? o.expires_at - now : null;
        const expired = left !== null && left <= 0;
        const phone = c.customer && c.customer.phone;
        const name = customerName(c);
        return html`
          <article key=${c.id} class="offer-card" data-id=${c.id} aria-label=${t('offer.card', { name })}>
            <div class="offer-head">
              <strong class="offer-name" dir="auto">${name}</strong>
              ${left !== null && html`
                <span class=${'countdown' + (left < 10000 ? ' urgent' : '')}>
                  ${expired ? t('offer.expired') : t('offer.expires_in', { time: countdown(left) })}
                </span>`}
            </div>
            <div class="offer-meta">
              ${phone && phone !== name && html`<bdi class="phone" dir="ltr">${phone}</bdi>`}
              ${c.team && html`<span>${teamName(s, c.team)}</span>`}
              ${c.priority != null && html`<span>${t('offer.priority', { priority: c.priority })}</span>`}
            </div>
            <div class="offer-actions">
              <button type="button" class="button primary offer-accept" disabled=${expired}
                onClick=${() => acceptOffer(c.id)}>${t('offer.accept')}</button>
              <button type="button" class="button offer-reject"
                onClick=${() => rejectOffer(c.id)}>${t('offer.reject')}</button>
            </div>
          </article>
        `;
      })}
    </section>
  `;
}
