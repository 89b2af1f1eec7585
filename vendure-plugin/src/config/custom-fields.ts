import { CustomFieldConfig, LanguageCode, RuntimeVendureConfig } from '@vendure/core';

const coordinate = (name: string, label: string, range: number): CustomFieldConfig => ({
    name,
    type: 'float',
    nullable: true,
    min: -range,
    max: range,
    label: [{ languageCode: LanguageCode.en, value: label }],
});

/** Pickup coordinates on channels and stock locations; drop-off coordinates on addresses. */
export function defineCoordinateFields(config: RuntimeVendureConfig): void {
    const pickup = [
        coordinate('pickupLatitude', 'Pickup latitude (driver service)', 90),
        coordinate('pickupLongitude', 'Pickup longitude (driver service)', 180),
    ];
    config.customFields.Channel.push(...pickup);
    config.customFields.StockLocation.push(...pickup);
    config.customFields.Address.push(coordinate('latitude', 'Latitude', 90), coordinate('longitude', 'Longitude', 180));
}
