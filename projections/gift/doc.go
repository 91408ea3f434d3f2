// Package gift projects the gift exchange's read models: the catalog with its stock and open
// reservations (gift_catalog, gift_reservations), each member's exchanges with their shipment
// (gift_exchanges) and the fulfillment sagas with when their next action is due (gift_sagas).
package gift
